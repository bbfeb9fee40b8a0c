//! Where glossaries live: the house glossaries given at start (`--glossary [SRC-TGT=]FILE`,
//! read-only, applied to every translation of their language pair) and the glossaries created
//! through the API, kept as one JSON file each under `<data-dir>/glossaries/` so that a restart
//! keeps them.
//!
//! Files rather than an embedded database: glossaries are small, written rarely and read once at
//! start; one file per glossary is written whole to a temporary name and renamed (atomic on one
//! filesystem), so a crash leaves either the old or the new glossary, never half of one; an
//! operator can read, back up or remove them with ordinary tools; and no database crate is
//! needed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{parse_entries, Entry, Format, Glossary, Selection};
use crate::Error;

/// Prefix of the ids of house glossaries (from files given at start).
pub const HOUSE_PREFIX: &str = "house-";

/// The glossaries of a process.
#[derive(Debug, Default)]
pub struct GlossaryStore {
    /// `<data-dir>/glossaries`, when created glossaries persist.
    dir: Option<PathBuf>,
    house: Vec<Arc<Glossary>>,
    stored: RwLock<BTreeMap<String, Arc<Glossary>>>,
}

/// A house glossary file as given on the command line: `[SRC-TGT=]FILE` (default pair `nl-en`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseFile {
    pub source_lang: String,
    pub target_lang: String,
    pub path: PathBuf,
}

impl std::str::FromStr for HouseFile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let pair = s.split_once('=').and_then(|(pair, path)| {
            let (src, tgt) = pair.split_once('-')?;
            let code =
                |l: &str| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic());
            (code(src) && code(tgt)).then(|| (src.to_lowercase(), tgt.to_lowercase(), path))
        });
        let (source_lang, target_lang, path) = pair.unwrap_or(("nl".into(), "en".into(), s));
        if path.is_empty() {
            return Err("no glossary file named".into());
        }
        Ok(HouseFile {
            source_lang,
            target_lang,
            path: PathBuf::from(path),
        })
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

impl HouseFile {
    /// Reads and parses the file; errors name the file and line.
    pub fn load(&self) -> Result<Glossary, Error> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(io(format!("cannot read glossary {}", self.path.display())))?;
        let entries = parse_entries(&text, Format::of_path(&self.path)).map_err(|e| {
            Error::invalid("invalid_glossary", format!("{}: {e}", self.path.display()))
        })?;
        let stem = self
            .path
            .file_stem()
            .map_or("glossary".into(), |s| s.to_string_lossy().into_owned());
        Ok(Glossary {
            id: format!(
                "{HOUSE_PREFIX}{}-{}-{stem}",
                self.source_lang, self.target_lang
            ),
            name: stem,
            source_lang: self.source_lang.clone(),
            target_lang: self.target_lang.clone(),
            created: unix_now(),
            entries,
        })
    }
}

impl GlossaryStore {
    /// The house glossaries from `files` and, with a data directory, the glossaries stored under
    /// it (the directory is created when missing).
    pub fn open(data_dir: Option<&Path>, files: &[HouseFile]) -> Result<GlossaryStore, Error> {
        let house = files
            .iter()
            .map(|f| f.load().map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let dir = data_dir.map(|d| d.join("glossaries"));
        let mut stored = BTreeMap::new();
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
            for g in read_dir(dir)? {
                stored.insert(g.id.clone(), Arc::new(g));
            }
        }
        Ok(GlossaryStore {
            dir,
            house,
            stored: RwLock::new(stored),
        })
    }

    /// The house glossaries: applied to every translation of their language pair.
    pub fn house(&self) -> Selection {
        Selection::new(self.house.clone())
    }

    /// Whether created glossaries outlive the process.
    pub fn persistent(&self) -> bool {
        self.dir.is_some()
    }

    /// Creates a glossary (and its file, with a data directory).
    pub fn create(
        &self,
        name: &str,
        pair: (&str, &str),
        entries: Vec<Entry>,
    ) -> Result<Arc<Glossary>, Error> {
        let g = Arc::new(Glossary {
            id: new_id(name),
            name: name.to_string(),
            source_lang: pair.0.to_lowercase(),
            target_lang: pair.1.to_lowercase(),
            created: unix_now(),
            entries,
        });
        if let Some(dir) = &self.dir {
            write_file(dir, &g)?;
        }
        self.write().insert(g.id.clone(), g.clone());
        Ok(g)
    }

    /// A glossary by id, house glossaries included.
    pub fn get(&self, id: &str) -> Option<Arc<Glossary>> {
        self.house
            .iter()
            .find(|g| g.id == id)
            .cloned()
            .or_else(|| self.read().get(id).cloned())
    }

    /// Every glossary: the house ones first, then the created ones by id.
    pub fn list(&self) -> Vec<Arc<Glossary>> {
        let mut out = self.house.clone();
        out.extend(self.read().values().cloned());
        out
    }

    /// Deletes a created glossary; `Ok(false)` when there is none with that id. House glossaries
    /// cannot be deleted through the API (they come back at the next start).
    pub fn delete(&self, id: &str) -> Result<bool, Error> {
        if self.house.iter().any(|g| g.id == id) {
            return Err(Error::invalid(
                "glossary_read_only",
                format!("{id} is a house glossary, loaded from a file at start; edit the file"),
            ));
        }
        let Some(g) = self.write().remove(id) else {
            return Ok(false);
        };
        if let Some(dir) = &self.dir {
            let path = dir.join(format!("{}.json", g.id));
            std::fs::remove_file(&path).map_err(io(format!("cannot remove {}", path.display())))?;
        }
        Ok(true)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Glossary>>> {
        self.stored.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Glossary>>> {
        self.stored.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The glossaries stored in `dir` (`*.json`); a file that does not read as one is an error
/// naming it, so that nothing is silently lost.
fn read_dir(dir: &Path) -> Result<Vec<Glossary>, Error> {
    let mut out = Vec::new();
    let listing = std::fs::read_dir(dir).map_err(io(format!("cannot list {}", dir.display())))?;
    for entry in listing {
        let path = entry
            .map_err(io(format!("cannot list {}", dir.display())))?
            .path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(io(format!("cannot read {}", path.display())))?;
        let g: Glossary = serde_json::from_str(&text).map_err(|e| {
            Error::invalid(
                "invalid_glossary",
                format!("stored glossary {} does not read: {e}", path.display()),
            )
        })?;
        out.push(g);
    }
    Ok(out)
}

/// Writes `g` to `dir/<id>.json` through a temporary file and a rename.
fn write_file(dir: &Path, g: &Glossary) -> Result<(), Error> {
    let path = dir.join(format!("{}.json", g.id));
    let tmp = dir.join(format!(".{}.json.tmp", g.id));
    let text = serde_json::to_string_pretty(g).map_err(|e| Error::internal(e.to_string()))?;
    std::fs::write(&tmp, text).map_err(io(format!("cannot write {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(io(format!("cannot write {}", path.display())))
}

/// A new id in UUID form (DeepL's ids are UUIDs), from the time, a process counter and the name.
fn new_id(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // FNV-1a over the name, mixed with the time and counter.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes().chain(n.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let hi = (nanos as u64) ^ h.rotate_left(17);
    let lo = h ^ (std::process::id() as u64).rotate_left(40) ^ n;
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0x0fff,
        0x8000 | (lo >> 48) & 0x3fff,
        lo & 0xffff_ffff_ffff
    )
}
