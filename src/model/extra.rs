//! `Extra`: the fields of a wire object that this version does not know, 8 bytes when there are
//! none.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::Object;

/// The empty map every empty [`Extra`] dereferences to.
static EMPTY: LazyLock<Object> = LazyLock::new(Object::new);

/// The fields of a wire object that this version does not know, kept verbatim and in order.
///
/// Almost every object a server writes has none, so an empty `Extra` is a null pointer (8
/// bytes, no allocation) rather than a 72-byte map; the map is allocated on first mutable use.
/// It dereferences to an [`Object`], so it reads and writes like one.
///
/// ```
/// use agent_sessions::model::{Extra, SessionRecord};
/// use serde_json::json;
///
/// let mut rec: SessionRecord = serde_json::from_value(json!({
///     "user_id": "u", "agent_id": "a", "config": {"workspace_id": "w", "name": "n"},
///     "team_id": "t-1",
/// })).unwrap();
/// assert_eq!(rec.extra["team_id"], "t-1");
/// assert!(rec.config.extra.is_empty());
///
/// rec.config.extra.insert("region".into(), json!("eu"));
/// for (key, value) in &rec.config.extra {
///     assert_eq!((key.as_str(), value), ("region", &json!("eu")));
/// }
/// assert_eq!(serde_json::to_value(&rec).unwrap()["config"]["region"], "eu");
///
/// assert_eq!(std::mem::size_of::<Extra>(), 8);
/// assert_eq!(Extra::default(), Extra::from(serde_json::Map::new()));
/// ```
#[derive(Clone, Default)]
pub struct Extra(Option<Box<Object>>);

impl Extra {
    /// No fields; allocates nothing.
    pub const fn new() -> Self {
        Self(None)
    }

    /// The fields as a map.
    pub fn into_object(self) -> Object {
        self.0.map(|b| *b).unwrap_or_default()
    }
}

impl Deref for Extra {
    type Target = Object;
    fn deref(&self) -> &Object {
        self.0.as_deref().unwrap_or(&EMPTY)
    }
}

impl DerefMut for Extra {
    /// Allocates the map if there is none yet.
    fn deref_mut(&mut self) -> &mut Object {
        self.0.get_or_insert_with(Box::default)
    }
}

impl From<Object> for Extra {
    /// Keeps `map`, or nothing when it is empty.
    fn from(map: Object) -> Self {
        if map.is_empty() {
            Self(None)
        } else {
            Self(Some(Box::new(map)))
        }
    }
}

impl From<Extra> for Object {
    fn from(extra: Extra) -> Self {
        extra.into_object()
    }
}

impl fmt::Debug for Extra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq for Extra {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl PartialEq<Object> for Extra {
    fn eq(&self, other: &Object) -> bool {
        **self == *other
    }
}

impl PartialEq<Extra> for Object {
    fn eq(&self, other: &Extra) -> bool {
        *self == **other
    }
}

impl Serialize for Extra {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Extra {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Object::deserialize(d).map(Self::from)
    }
}

impl FromIterator<(String, Value)> for Extra {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Self::from(iter.into_iter().collect::<Object>())
    }
}

impl Extend<(String, Value)> for Extra {
    fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, iter: I) {
        let mut iter = iter.into_iter().peekable();
        if iter.peek().is_some() {
            (**self).extend(iter);
        }
    }
}

impl IntoIterator for Extra {
    type Item = (String, Value);
    type IntoIter = serde_json::map::IntoIter;
    fn into_iter(self) -> Self::IntoIter {
        self.into_object().into_iter()
    }
}

impl<'a> IntoIterator for &'a Extra {
    type Item = (&'a String, &'a Value);
    type IntoIter = serde_json::map::Iter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        (**self).iter()
    }
}

impl<'a> IntoIterator for &'a mut Extra {
    type Item = (&'a String, &'a mut Value);
    type IntoIter = std::iter::Flatten<std::option::IntoIter<serde_json::map::IterMut<'a>>>;
    /// Iterates without allocating when there are no fields.
    fn into_iter(self) -> Self::IntoIter {
        self.0
            .as_deref_mut()
            .map(Object::iter_mut)
            .into_iter()
            .flatten()
    }
}
