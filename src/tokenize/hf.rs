//! `tokenizers::Tokenizer` objects for SentencePiece-based tokenizers, built
//! the way transformers' `convert_slow_tokenizer` (`SpmConverter`) builds a
//! fast tokenizer: `Precompiled` + `Strip` + `Replace` normalizer, `Metaspace`
//! pre-tokenizer and decoder, `Unigram` model, special tokens as added tokens
//! and a `$A </s>` post-processor.
//!
//! These are for interoperability (vocabulary lookups, offsets, batching in
//! other code). They agree with the slow tokenizers on ordinary text but, like
//! every converted fast tokenizer, not on every input (combining characters,
//! unknown-character runs, score ties); `Seq2SeqTokenizer::encode`/`decode`
//! use the exact emulation instead.

use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::{NormalizerWrapper, Precompiled, Replace, Sequence, Strip};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{
    AddedToken, DecoderWrapper, PostProcessorWrapper, PreTokenizerWrapper, Tokenizer,
};

use super::proto::PieceType;
use super::spm::SpmProcessor;
use super::vocab::JsonVocab;

/// Builds the tokenizer. `vocab[i]` is the token with id `i`.
pub(crate) fn spm_tokenizer(
    sp: &SpmProcessor,
    vocab: Vec<(String, f64)>,
    unk_id: u32,
    specials: &[(String, u32)], // (content, id); ids come from `vocab`
    eos: Option<(&str, u32)>,
) -> Result<Tokenizer, String> {
    let model = Unigram::from(vocab, Some(unk_id as usize), false).map_err(|e| e.to_string())?;
    let mut tokenizer = Tokenizer::new(model);
    let spec = &sp.model().normalizer;
    let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
    if !spec.precompiled_charsmap.is_empty() {
        let pre = Precompiled::from(&spec.precompiled_charsmap).map_err(|e| e.to_string())?;
        normalizers.push(NormalizerWrapper::Precompiled(pre));
    }
    normalizers.push(NormalizerWrapper::StripNormalizer(Strip::new(false, true)));
    let replace = Replace::new(
        tokenizers::normalizers::replace::ReplacePattern::Regex(" {2,}".into()),
        "\u{2581}",
    )
    .map_err(|e| e.to_string())?;
    normalizers.push(NormalizerWrapper::Replace(replace));
    tokenizer
        .with_normalizer(Some(NormalizerWrapper::Sequence(Sequence::new(
            normalizers,
        ))))
        .map_err(|e| e.to_string())?;
    let scheme = if spec.add_dummy_prefix {
        PrependScheme::Always
    } else {
        PrependScheme::Never
    };
    let metaspace = Metaspace::new('\u{2581}', scheme, true);
    tokenizer.with_pre_tokenizer(Some(PreTokenizerWrapper::Metaspace(metaspace.clone())));
    tokenizer.with_decoder(Some(DecoderWrapper::Metaspace(metaspace)));
    if let Some((eos, eos_id)) = eos {
        let template = TemplateProcessing::builder()
            .try_single(format!("$A {eos}"))
            .map_err(|e| e.to_string())?
            .special_tokens(vec![(eos.to_string(), eos_id)])
            .build()
            .map_err(|e| e.to_string())?;
        tokenizer.with_post_processor(Some(PostProcessorWrapper::Template(template)));
    }
    let added: Vec<AddedToken> = specials
        .iter()
        .map(|(content, _)| AddedToken::from(content.clone(), true))
        .collect();
    tokenizer
        .add_special_tokens(added.iter().cloned())
        .map_err(|e| e.to_string())?;
    Ok(tokenizer)
}

/// The score a converted fast tokenizer gives `piece`: the SentencePiece score
/// for pieces the model can produce, 0 for control pieces (as the converter
/// does), and below the unknown penalty for strings the model does not know.
fn score_of(sp: &SpmProcessor, piece: &str, missing: f64) -> f64 {
    match sp.lookup(piece) {
        Some(p) if p.kind == PieceType::Normal => f64::from(p.score),
        Some(p) if p.kind == PieceType::Unused => missing,
        Some(p) => f64::from(p.score.max(0.0)),
        None => missing,
    }
}

fn missing_score(sp: &SpmProcessor) -> f64 {
    let min = sp
        .model()
        .pieces
        .iter()
        .filter(|p| p.kind == PieceType::Normal)
        .map(|p| f64::from(p.score))
        .fold(0.0f64, f64::min);
    min - 20.0
}

/// Unigram vocabulary in `vocab.json` id order, scored by the SentencePiece model.
pub(crate) fn json_vocab_entries(
    vocab: &JsonVocab,
    sp: &SpmProcessor,
) -> Result<Vec<(String, f64)>, String> {
    let max_id = vocab.decoder.keys().copied().max().unwrap_or(0) as usize;
    if max_id >= 2 * vocab.len() + 1024 {
        return Err(format!(
            "ids are not dense (max id {max_id} for {} tokens)",
            vocab.len()
        ));
    }
    let missing = missing_score(sp);
    Ok((0..=max_id)
        .map(|id| match vocab.decoder.get(&(id as u32)) {
            Some(token) => (token.clone(), score_of(sp, token, missing)),
            None => (format!("<copydesk_unused_{id}>"), missing),
        })
        .collect())
}

/// Unigram vocabulary in SentencePiece id order plus `<extra_id_N>` sentinels
/// (T5Converter: `<extra_id_{n-1}>` first, `<extra_id_0>` last).
pub(crate) fn spm_vocab_entries(sp: &SpmProcessor, extra_ids: usize) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = sp
        .model()
        .pieces
        .iter()
        .map(|p| (p.piece.clone(), f64::from(p.score)))
        .collect();
    v.extend(
        (0..extra_ids)
            .rev()
            .map(|i| (format!("<extra_id_{i}>"), 0.0)),
    );
    v
}
