//! Segmentation of Dutch wire copy (and plain text) into translatable units.
//!
//! * [`segment`] parses ANP-style copy into a [`Document`]: headline,
//!   dateline (`DEN HAAG (ANP) - `), paragraphs and subheadings split into
//!   sentences, and the `Meer uit <rubriek>` section of related items with
//!   their ages (`30 minuten geleden`).
//! * [`split_sentences`] splits one Dutch paragraph into sentences.
//! * [`split_text`] / [`join_text`] split arbitrary text into sentences while
//!   remembering its line structure, and put translated sentences back into
//!   that structure.
//! * [`english_place`], [`english_age`] and [`english_related_title`]
//!   translate the fixed wire furniture by table, without a model.
//!
//! Nothing here fails or panics, and no text is lost: every non-whitespace
//! character of the input ends up, in order, in the headline, the dateline
//! (minus its brackets and dash), the block sentences, the related title, or
//! a related item's dateline, sentences or age.

pub mod checks;
mod furniture;
mod lang;
mod markup;
mod places;
mod plain;
mod sentences;
mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_prop;
#[cfg(test)]
mod tests_wire;

use serde::{Deserialize, Serialize};

pub use furniture::parse_dateline;
pub use lang::{
    detect_in_context, detect_language, detect_whole, guess_in_context, language_name, Detected,
    LangGuess,
};
pub use markup::{split_markup, trim_parts, Markup};
pub use places::{english_age, english_place, english_related_title};
pub use plain::{join_text, split_text, text_sentence_count, text_sentences, Paragraph};
pub use sentences::split_sentences;
pub use wire::{segment, segment_body};

/// 64-bit FNV-1a of a string: stable across runs and Rust versions (names derived from ids).
pub fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A wire dateline: `DEN HAAG (ANP) - ` gives place `DEN HAAG`, agency `ANP`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dateline {
    /// The place as written, usually upper-case (`DEN HAAG`).
    pub place: String,
    /// The agency or agencies between the brackets (`ANP`, `ANP/RTR`).
    pub agency: String,
}

impl Dateline {
    /// The dateline in wire form with a hyphen: `DEN HAAG (ANP) -`.
    pub fn to_wire(&self) -> String {
        format!("{} ({}) -", self.place, self.agency)
    }

    /// The same dateline with the place translated by [`english_place`].
    pub fn to_english(&self) -> Dateline {
        Dateline {
            place: english_place(&self.place),
            agency: self.agency.clone(),
        }
    }
}

/// What a body block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockKind {
    /// Running text.
    Paragraph,
    /// A short heading line inside the body (`Kritiek uit de Kamer`).
    Subheading,
}

/// A paragraph or subheading of the body, split into sentences. A
/// subheading always has exactly one "sentence": its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Paragraph or subheading.
    pub kind: BlockKind,
    /// The block's sentences, whitespace collapsed, in order.
    pub sentences: Vec<String>,
}

/// One short item of the related section (`Meer uit Binnenland`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelatedItem {
    /// The item's dateline, removed from its first sentence.
    #[serde(default)]
    pub dateline: Option<Dateline>,
    /// The item's sentences. When a title line precedes the item's
    /// dateline, `dateline` is `None`, the title is the first sentence and
    /// the dateline stays in the text of the next one.
    #[serde(default)]
    pub sentences: Vec<String>,
    /// The age shown with the item, as written (`30 minuten geleden`).
    #[serde(default)]
    pub age: Option<String>,
}

/// A segmented piece of wire copy. See [`segment`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// The headline (first line), kept whole as one "sentence".
    #[serde(default)]
    pub headline: Option<String>,
    /// The dateline that opened the first paragraph; it is removed from the
    /// first sentence.
    #[serde(default)]
    pub dateline: Option<Dateline>,
    /// Paragraphs and subheadings of the body, in order.
    #[serde(default)]
    pub blocks: Vec<Block>,
    /// The related section's title as written (`Meer uit Binnenland`).
    #[serde(default)]
    pub related_title: Option<String>,
    /// The items of the related section, in order.
    #[serde(default)]
    pub related: Vec<RelatedItem>,
}

impl Document {
    /// True when the document holds no text at all.
    pub fn is_empty(&self) -> bool {
        self.headline.is_none()
            && self.dateline.is_none()
            && self.blocks.is_empty()
            && self.related_title.is_none()
            && self.related.is_empty()
    }

    /// Number of translatable sentences, i.e. `self.sentences().count()`.
    pub fn sentence_count(&self) -> usize {
        usize::from(self.headline.is_some())
            + self.blocks.iter().map(|b| b.sentences.len()).sum::<usize>()
            + self
                .related
                .iter()
                .map(|r| r.sentences.len())
                .sum::<usize>()
    }

    /// All translatable sentences in document order: the headline, then the
    /// sentences of every block, then the sentences of every related item.
    /// Datelines, ages and the related title are not included (translate
    /// them with [`english_place`], [`english_age`],
    /// [`english_related_title`], or all at once with
    /// [`Document::with_english_furniture`]).
    pub fn sentences(&self) -> impl Iterator<Item = &str> + '_ {
        self.headline
            .iter()
            .map(String::as_str)
            .chain(
                self.blocks
                    .iter()
                    .flat_map(|b| b.sentences.iter().map(String::as_str)),
            )
            .chain(
                self.related
                    .iter()
                    .flat_map(|r| r.sentences.iter().map(String::as_str)),
            )
    }

    /// Rebuilds the document with every sentence replaced by `f(sentence)`,
    /// calling `f` in the order of [`Document::sentences`]. Everything else
    /// (datelines, ages, related title, block kinds) is copied unchanged.
    pub fn map_sentences<F: FnMut(&str) -> String>(&self, mut f: F) -> Document {
        match self.try_map_sentences(|s| Ok::<String, std::convert::Infallible>(f(s))) {
            Ok(doc) => doc,
            Err(never) => match never {},
        }
    }

    /// Like [`Document::map_sentences`], stopping at the first error.
    pub fn try_map_sentences<E, F>(&self, mut f: F) -> Result<Document, E>
    where
        F: FnMut(&str) -> Result<String, E>,
    {
        let headline = match &self.headline {
            Some(h) => Some(f(h)?),
            None => None,
        };
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for b in &self.blocks {
            let sentences = b.sentences.iter().map(|s| f(s)).collect::<Result<_, E>>()?;
            blocks.push(Block {
                kind: b.kind,
                sentences,
            });
        }
        let mut related = Vec::with_capacity(self.related.len());
        for r in &self.related {
            let sentences = r.sentences.iter().map(|s| f(s)).collect::<Result<_, E>>()?;
            related.push(RelatedItem {
                dateline: r.dateline.clone(),
                sentences,
                age: r.age.clone(),
            });
        }
        Ok(Document {
            headline,
            dateline: self.dateline.clone(),
            blocks,
            related_title: self.related_title.clone(),
            related,
        })
    }

    /// Rebuilds the document with `translated[i]` in place of the i-th
    /// sentence of [`Document::sentences`]. Missing entries keep the
    /// original sentence; extra entries are ignored.
    pub fn with_sentences<S: AsRef<str>>(&self, translated: &[S]) -> Document {
        let mut it = translated.iter();
        self.map_sentences(|orig| match it.next() {
            Some(t) => t.as_ref().to_string(),
            None => orig.to_string(),
        })
    }

    /// The document with dateline places, ages and the related title
    /// translated to English by table; sentences are left alone.
    pub fn with_english_furniture(&self) -> Document {
        let mut doc = self.clone();
        doc.dateline = doc.dateline.as_ref().map(Dateline::to_english);
        doc.related_title = doc.related_title.as_deref().map(english_related_title);
        for r in &mut doc.related {
            r.dateline = r.dateline.as_ref().map(Dateline::to_english);
            r.age = r.age.as_deref().map(english_age);
        }
        doc
    }

    /// Renders the document as plain wire copy: headline, dateline-led first
    /// paragraph, one line per block, the related title, and each related
    /// item on its own line followed by its age on the next line.
    /// For wire copy such as the shared samples, [`segment`] of the result
    /// gives the same document back (tested); for arbitrary documents that
    /// is not guaranteed.
    pub fn to_plain_text(&self) -> String {
        let mut lines: Vec<String> = Vec::new();
        if let Some(h) = &self.headline {
            lines.push(h.clone());
        }
        let mut dateline = self.dateline.as_ref();
        for b in &self.blocks {
            let mut line = b.sentences.join(" ");
            if let Some(d) = dateline.take() {
                line = format!("{} {}", d.to_wire(), line).trim_end().to_string();
            }
            lines.push(line);
        }
        if let Some(d) = dateline {
            lines.push(d.to_wire());
        }
        if let Some(t) = &self.related_title {
            lines.push(t.clone());
        }
        for r in &self.related {
            let mut line = r.sentences.join(" ");
            if let Some(d) = &r.dateline {
                line = format!("{} {}", d.to_wire(), line).trim_end().to_string();
            }
            if !line.is_empty() {
                lines.push(line);
            }
            if let Some(a) = &r.age {
                lines.push(a.clone());
            }
        }
        lines.join("\n")
    }
}
