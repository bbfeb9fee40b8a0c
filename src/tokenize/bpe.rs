//! BART's tokenizer from `vocab.json` + `merges.txt` (no `tokenizer.json`), built the way
//! transformers' `RobertaConverter` turns the slow `BartTokenizer` into a fast one: byte-level BPE
//! without a prefix space, `<s> … </s>` around each input, the special tokens split out of the
//! text (`<mask>` eating the space before it).

use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::roberta::RobertaProcessing;
use tokenizers::{AddedToken, Tokenizer};

use super::TokenizeError;

/// BART's special tokens, in the order `BartTokenizer` adds them.
const SPECIALS: [&str; 5] = ["<s>", "</s>", "<unk>", "<pad>", "<mask>"];

/// The fast tokenizer for a byte-level BPE vocabulary.
pub(crate) fn byte_level(vocab_json: &Path, merges_txt: &Path) -> Result<Tokenizer, TokenizeError> {
    let bad = |message: String| TokenizeError::TokenizerFile {
        path: vocab_json.to_path_buf(),
        message,
    };
    for path in [vocab_json, merges_txt] {
        if !path.is_file() {
            return Err(TokenizeError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
    }
    let (vocab, merges) = (vocab_json.to_string_lossy(), merges_txt.to_string_lossy());
    let bpe = BPE::from_file(&vocab, &merges)
        .build()
        .map_err(|e| bad(format!("with {}: {e}", merges_txt.display())))?;
    let id = |token: &str| {
        tokenizers::Model::token_to_id(&bpe, token)
            .ok_or_else(|| bad(format!("{token} is not in the vocabulary")))
    };
    let (bos, eos) = (id("<s>")?, id("</s>")?);
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer
        .with_pre_tokenizer(Some(ByteLevel::new(false, true, true)))
        .with_decoder(Some(ByteLevelDecoder::default()))
        .with_post_processor(Some(
            RobertaProcessing::new(("</s>".into(), eos), ("<s>".into(), bos))
                .trim_offsets(true)
                .add_prefix_space(false),
        ));
    let specials: Vec<AddedToken> = SPECIALS
        .iter()
        .map(|&t| AddedToken::from(t, true).lstrip(t == "<mask>"))
        .collect();
    tokenizer
        .add_special_tokens(specials)
        .map_err(|e| bad(e.to_string()))?;
    Ok(tokenizer)
}
