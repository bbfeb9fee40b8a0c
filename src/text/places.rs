//! Table translation of wire furniture: dateline places (Dutch exonyms),
//! item ages (`30 minuten geleden`) and related-section titles.

/// Dutch exonym (upper-case, apostrophes as `'`) → English name.
pub(crate) const PLACES: &[(&str, &str)] = &[
    ("'S-GRAVENHAGE", "The Hague"),
    ("ADDIS ABEBA", "Addis Ababa"),
    ("AKEN", "Aachen"),
    ("ALGIERS", "Algiers"),
    ("ANTWERPEN", "Antwerp"),
    ("ATHENE", "Athens"),
    ("BAGDAD", "Baghdad"),
    ("BAKOE", "Baku"),
    ("BAZEL", "Basel"),
    ("BEIROET", "Beirut"),
    ("BELGRADO", "Belgrade"),
    ("BERLIJN", "Berlin"),
    ("BOEDAPEST", "Budapest"),
    ("BOEKAREST", "Bucharest"),
    ("BRUGGE", "Bruges"),
    ("BRUSSEL", "Brussels"),
    ("DEN HAAG", "The Hague"),
    ("DJAKARTA", "Jakarta"),
    ("DOORNIK", "Tournai"),
    ("DUINKERKEN", "Dunkirk"),
    ("GENEVE", "Geneva"),
    ("GENT", "Ghent"),
    ("GENUA", "Genoa"),
    ("JERUZALEM", "Jerusalem"),
    ("JEREVAN", "Yerevan"),
    ("KAAPSTAD", "Cape Town"),
    ("KAIRO", "Cairo"),
    ("KEULEN", "Cologne"),
    ("KIEV", "Kyiv"),
    ("KIEW", "Kyiv"),
    ("KOPENHAGEN", "Copenhagen"),
    ("LISSABON", "Lisbon"),
    ("LONDEN", "London"),
    ("LUIK", "Liege"),
    ("LUXEMBURG", "Luxembourg"),
    ("MANILLA", "Manila"),
    ("MEXICO-STAD", "Mexico City"),
    ("MILAAN", "Milan"),
    ("MOSKOU", "Moscow"),
    ("MUNCHEN", "Munich"),
    ("NAMEN", "Namur"),
    ("NAPELS", "Naples"),
    ("PARIJS", "Paris"),
    ("PEKING", "Beijing"),
    ("PRAAG", "Prague"),
    ("RIJSEL", "Lille"),
    ("RIYAD", "Riyadh"),
    ("ROME", "Rome"),
    ("SEVILLA", "Seville"),
    ("SINT-PETERSBURG", "St Petersburg"),
    ("STRAATSBURG", "Strasbourg"),
    ("TEHERAN", "Tehran"),
    ("TOKIO", "Tokyo"),
    ("TURIJN", "Turin"),
    ("VATICAANSTAD", "Vatican City"),
    ("VENETIE", "Venice"),
    ("WARSCHAU", "Warsaw"),
    ("WENEN", "Vienna"),
    ("ZURICH", "Zurich"),
];

/// Strips the accents that occur in Dutch exonyms so that `MÜNCHEN`,
/// `GENÈVE` and `VENETIË` find their table entries.
fn fold_accents(c: char) -> char {
    match c {
        'À' | 'Á' | 'Â' | 'Ä' | 'Ã' => 'A',
        'È' | 'É' | 'Ê' | 'Ë' => 'E',
        'Ì' | 'Í' | 'Î' | 'Ï' => 'I',
        'Ò' | 'Ó' | 'Ô' | 'Ö' | 'Õ' => 'O',
        'Ù' | 'Ú' | 'Û' | 'Ü' => 'U',
        '’' | '‘' => '\'',
        c => c,
    }
}

fn place_key(place: &str) -> String {
    let upper: String = place
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase();
    upper.chars().map(fold_accents).collect()
}

/// English name of a dateline place: `DEN HAAG` → `THE HAGUE`,
/// `Brussel` → `Brussels`. The result is upper-case when the input has no
/// lower-case letters (as in wire datelines). Unknown places come back
/// unchanged.
pub fn english_place(place: &str) -> String {
    let key = place_key(place);
    match PLACES.iter().find(|(nl, _)| *nl == key) {
        Some((_, en)) if place.chars().any(char::is_lowercase) => (*en).to_string(),
        Some((_, en)) => en.to_uppercase(),
        None => place.to_string(),
    }
}

/// Dutch time unit → (English singular, English plural).
const UNITS: &[(&str, &str, &str)] = &[
    ("seconde", "second", "seconds"),
    ("seconden", "second", "seconds"),
    ("sec", "second", "seconds"),
    ("minuut", "minute", "minutes"),
    ("minuten", "minute", "minutes"),
    ("min", "minute", "minutes"),
    ("uur", "hour", "hours"),
    ("uren", "hour", "hours"),
    ("u", "hour", "hours"),
    ("dag", "day", "days"),
    ("dagen", "day", "days"),
    ("week", "week", "weeks"),
    ("weken", "week", "weeks"),
    ("maand", "month", "months"),
    ("maanden", "month", "months"),
    ("jaar", "year", "years"),
    ("jaren", "year", "years"),
];

/// Dutch time units accepted in ages (lower-case).
pub(crate) fn is_age_unit(word: &str) -> bool {
    UNITS.iter().any(|(nl, _, _)| *nl == word)
}

/// Dutch number words accepted in ages.
pub(crate) fn age_number(word: &str) -> Option<u64> {
    match word {
        "een" | "één" | "eén" => Some(1),
        "twee" => Some(2),
        "drie" => Some(3),
        "vier" => Some(4),
        "vijf" => Some(5),
        "tien" => Some(10),
        w if !w.is_empty() && w.len() <= 6 && w.chars().all(|c| c.is_ascii_digit()) => {
            w.parse().ok()
        }
        _ => None,
    }
}

fn capitalize_like(src: &str, en: &str) -> String {
    if src.chars().next().is_some_and(char::is_uppercase) {
        let mut cs = en.chars();
        match cs.next() {
            Some(f) => f.to_uppercase().chain(cs).collect(),
            None => String::new(),
        }
    } else {
        en.to_string()
    }
}

/// English form of a related item's age: `30 minuten geleden` →
/// `30 minutes ago`, `1 uur geleden` → `1 hour ago`, `2 uur geleden` →
/// `2 hours ago`, `gisteren` → `yesterday`. Unknown forms come back
/// unchanged.
pub fn english_age(age: &str) -> String {
    let words: Vec<&str> = age.split_whitespace().collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let lw: Vec<&str> = lower.iter().map(String::as_str).collect();
    let en = match lw.as_slice() {
        ["gisteren"] => Some("yesterday".to_string()),
        ["eergisteren"] => Some("the day before yesterday".to_string()),
        ["vandaag"] => Some("today".to_string()),
        ["zojuist"] | ["net"] => Some("just now".to_string()),
        [num, unit, "geleden"] => {
            match (age_number(num), UNITS.iter().find(|(nl, _, _)| nl == unit)) {
                (Some(n), Some((_, one, many))) => {
                    Some(format!("{} {} ago", n, if n == 1 { one } else { many }))
                }
                _ => None,
            }
        }
        _ => None,
    };
    match en {
        Some(en) => capitalize_like(age.trim_start(), &en),
        None => age.to_string(),
    }
}

/// Known section names (`rubrieken`) and their English names.
const RUBRICS: &[(&str, &str)] = &[
    ("achterklap", "Gossip"),
    ("binnenland", "Domestic"),
    ("buitenland", "World"),
    ("cultuur", "Culture"),
    ("economie", "Business"),
    ("entertainment", "Entertainment"),
    ("geldzaken", "Personal finance"),
    ("gezondheid", "Health"),
    ("klimaat", "Climate"),
    ("koningshuis", "Royals"),
    ("media", "Media"),
    ("misdaad", "Crime"),
    ("muziek", "Music"),
    ("opmerkelijk", "Offbeat"),
    ("politiek", "Politics"),
    ("regio", "Regional"),
    ("sport", "Sport"),
    ("tech", "Tech"),
    ("technologie", "Technology"),
    ("verkeer", "Traffic"),
    ("voetbal", "Football"),
    ("weer", "Weather"),
    ("wetenschap", "Science"),
];

/// Title prefixes of related sections, lower-case, and their English forms.
pub(crate) const RELATED_PREFIXES: &[(&str, &str)] = &[
    ("meer uit", "More from"),
    ("meer over", "More about"),
    ("meer nieuws", "More news"),
    ("lees ook", "Read also"),
    ("lees meer", "Read more"),
    ("gerelateerde artikelen", "Related articles"),
    ("gerelateerd nieuws", "Related news"),
    ("gerelateerd", "Related"),
    ("ook interessant", "Also of interest"),
    ("ander nieuws", "Other news"),
];

/// English form of a related-section title: `Meer uit Binnenland` →
/// `More from Domestic`, `Meer uit Sport` → `More from Sport`. An unknown
/// section name is kept (`Meer uit Zeeland` → `More from Zeeland`); an
/// unknown title comes back unchanged.
pub fn english_related_title(title: &str) -> String {
    let t = title.trim();
    let lower = t.to_lowercase();
    for (nl, en) in RELATED_PREFIXES {
        let Some(rest_lower) = lower.strip_prefix(nl) else {
            continue;
        };
        if !(rest_lower.is_empty() || rest_lower.starts_with(char::is_whitespace)) {
            continue;
        }
        // Byte offsets agree between `t` and `lower` only when lowercasing
        // kept lengths; fall back to the lower-case rest otherwise.
        let rest = if lower.len() == t.len() && t.is_char_boundary(nl.len()) {
            t[nl.len()..].trim()
        } else {
            rest_lower.trim()
        };
        if rest.is_empty() {
            return (*en).to_string();
        }
        let rubric = RUBRICS
            .iter()
            .find(|(k, _)| *k == rest.to_lowercase())
            .map_or(rest, |(_, v)| *v);
        return format!("{en} {rubric}");
    }
    title.to_string()
}
