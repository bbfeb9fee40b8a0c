//! Prompt templates (`prompts/*.txt`, embedded): plain text with one `{text}` placeholder.

use std::collections::BTreeMap;

use crate::Error;

const PLACEHOLDER: &str = "{text}";

const BUILTIN: &[(&str, &str)] = &[
    ("raw", include_str!("../prompts/raw.txt")),
    ("translate", include_str!("../prompts/translate.txt")),
    ("summarize", include_str!("../prompts/summarize.txt")),
    ("brief", include_str!("../prompts/brief.txt")),
    ("bullets", include_str!("../prompts/bullets.txt")),
    ("headline", include_str!("../prompts/headline.txt")),
];

/// A checked template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    before: String,
    after: String,
}

impl Template {
    /// Parses a template; it must hold `{text}` exactly once. A final newline is not part of it.
    pub fn parse(name: &str, source: &str) -> Result<Template, Error> {
        let source = source.strip_suffix('\n').unwrap_or(source);
        let mut parts = source.split(PLACEHOLDER);
        let (before, after) = match (parts.next(), parts.next(), parts.next()) {
            (Some(b), Some(a), None) => (b, a),
            _ => {
                return Err(Error::invalid(
                    "bad_prompt",
                    format!("prompt template {name:?} must contain {PLACEHOLDER} exactly once"),
                ))
            }
        };
        Ok(Template {
            name: name.to_string(),
            before: before.to_string(),
            after: after.to_string(),
        })
    }

    pub fn render(&self, text: &str) -> String {
        format!("{}{}{}", self.before, text, self.after)
    }
}

/// The built-in templates by name.
#[derive(Debug, Clone)]
pub struct Prompts {
    templates: BTreeMap<String, Template>,
}

impl Prompts {
    pub fn builtin() -> Result<Prompts, Error> {
        let templates = BUILTIN
            .iter()
            .map(|(n, s)| Ok((n.to_string(), Template::parse(n, s)?)))
            .collect::<Result<_, Error>>()?;
        Ok(Prompts { templates })
    }

    pub fn names(&self) -> Vec<&str> {
        self.templates.keys().map(String::as_str).collect()
    }

    /// The template called `name`; an unknown name lists the available ones.
    pub fn get(&self, name: &str) -> Result<&Template, Error> {
        self.templates.get(name).ok_or_else(|| {
            Error::invalid(
                "unknown_prompt",
                format!(
                    "unknown prompt {name:?}; available prompts: {}",
                    self.names().join(", ")
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_render() {
        let p = Prompts::builtin().unwrap();
        for name in [
            "raw",
            "summarize",
            "brief",
            "bullets",
            "headline",
            "translate",
        ] {
            assert!(p.get(name).unwrap().render("XYZ").contains("XYZ"), "{name}");
        }
        assert_eq!(p.get("raw").unwrap().render("Hallo."), "Hallo.");
        assert_eq!(
            p.get("summarize").unwrap().render("Het nieuws."),
            "summarize: Het nieuws."
        );
    }

    #[test]
    fn unknown_names_list_the_available_ones() {
        let p = Prompts::builtin().unwrap();
        let e = p.get("poem").unwrap_err().to_string();
        assert!(
            e.contains("poem") && e.contains("summarize") && e.contains("headline"),
            "{e}"
        );
    }

    #[test]
    fn templates_need_exactly_one_placeholder() {
        assert!(Template::parse("x", "no placeholder").is_err());
        assert!(Template::parse("x", "{text} and {text}").is_err());
        assert_eq!(
            Template::parse("x", "a {text} b\n").unwrap().render("T"),
            "a T b"
        );
    }
}
