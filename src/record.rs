//! The output data model: one [`Record`] per item of a page.
//!
//! The field order of [`Record`] is the order in which the JSON object is written, and it matches
//! the SPEC's example. The seven fields that gold files carry (`kind section headline dateline
//! reporters paragraphs captions`) are the ones evaluation compares; see [`GoldFields`].

use serde::{Deserialize, Serialize};

/// What an item of a page is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A headline and a body.
    Article,
    /// Photo news: captions, maybe a headline, usually no body.
    Photo,
    /// A body (usually opened by a dateline) with no headline.
    Brief,
    /// Page furniture taken out of the text flow: page headers, page numbers, editor lines.
    Furniture,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Article, Kind::Photo, Kind::Brief, Kind::Furniture];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Article => "article",
            Kind::Photo => "photo",
            Kind::Brief => "brief",
            Kind::Furniture => "furniture",
        }
    }
}

/// A photo caption with its photographer credit (the name only: no `摄`, parentheses or agency).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caption {
    pub text: String,
    pub credit: Option<String>,
}

/// One change made to the text, attributable to a rule.
///
/// `span` is the byte range in the decoded page text that the change replaced; `before` is the
/// text as it was there (after earlier stages), `after` what it became. Structural extractions
/// (a byline moved to `reporters`, a credit moved to `captions[].credit`) are edits too: their
/// `after` holds the names that were kept in the record's fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    pub rule: String,
    pub span: [usize; 2],
    pub before: String,
    pub after: String,
}

/// Something a user should look at: a repair that could not be made safely, malformed input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    /// A stable identifier, e.g. `join.lost-char` or `decode.malformed`.
    pub code: String,
    /// Where in the decoded page text, when the flag is about one spot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<[usize; 2]>,
    /// A human-readable explanation.
    pub note: String,
}

/// One item of a page, as written to the output (one JSON object per line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// `source#index`.
    pub id: String,
    /// The page's path (relative to its input root) or the id it was given in stream mode.
    pub source: String,
    /// 1-based position of the item on the page.
    pub index: usize,
    pub kind: Kind,
    pub section: Option<String>,
    pub headline: Option<String>,
    pub dateline: Option<String>,
    pub reporters: Vec<String>,
    #[serde(default)]
    pub correspondents: Vec<String>,
    pub paragraphs: Vec<String>,
    pub captions: Vec<Caption>,
    /// Byte range of the item in the decoded page text (after BOM removal and line-end
    /// normalization).
    pub span: [usize; 2],
    #[serde(default)]
    pub flags: Vec<Flag>,
    /// Present only with `--explain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edits: Option<Vec<Edit>>,
}

impl Record {
    /// The fields that gold files carry and evaluation compares.
    pub fn gold_fields(&self) -> GoldFields {
        GoldFields {
            kind: self.kind,
            section: self.section.clone(),
            headline: self.headline.clone(),
            dateline: self.dateline.clone(),
            reporters: self.reporters.clone(),
            paragraphs: self.paragraphs.clone(),
            captions: self.captions.clone(),
        }
    }
}

/// The compared part of a record, as gold files hold it. Unknown fields are ignored when reading,
/// so a full [`Record`] line parses as `GoldFields` too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoldFields {
    pub kind: Kind,
    #[serde(default)]
    pub section: Option<String>,
    #[serde(default)]
    pub headline: Option<String>,
    #[serde(default)]
    pub dateline: Option<String>,
    #[serde(default)]
    pub reporters: Vec<String>,
    #[serde(default)]
    pub paragraphs: Vec<String>,
    #[serde(default)]
    pub captions: Vec<Caption>,
}
