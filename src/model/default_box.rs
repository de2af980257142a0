//! `DefaultBox`: a boxed value that allocates nothing while it is the default.

use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A type with one shared, immutable default value that an empty [`DefaultBox`] points to.
///
/// Sealed: implemented for the parts of a record that [`DefaultBox`] holds.
pub trait SharedDefault: Default + PartialEq + sealed::Sealed + 'static {
    /// The default value, shared.
    fn shared_default() -> &'static Self;
}

mod sealed {
    pub trait Sealed {}
}

/// Implements [`SharedDefault`] for a type, its shared default made on first use.
macro_rules! shared_default {
    ($($ty:ty),+ $(,)?) => {$(
        impl sealed::Sealed for $ty {}
        impl SharedDefault for $ty {
            fn shared_default() -> &'static Self {
                static DEFAULT: std::sync::LazyLock<$ty> = std::sync::LazyLock::new(<$ty>::default);
                &DEFAULT
            }
        }
    )+};
}

shared_default!(super::PermissionContext, super::TaskContext);

/// A part of a record that is usually left at its default value (an agent state's
/// `permission_context` and `tasks_context`): 8 bytes and no allocation while it is the
/// default, a box otherwise.
///
/// It dereferences to the value, so fields and methods read as before; the first mutable use
/// allocates. It serializes exactly as the value does.
///
/// ```
/// use agent_sessions::model::{AgentState, PermissionContext, PermissionMode};
///
/// let mut state = AgentState::default();
/// assert_eq!(state.permission_context.mode, PermissionMode::Default);
/// assert_eq!(state.permission_context, PermissionContext::default());
///
/// state.permission_context.mode = PermissionMode::Explore;
/// assert_eq!(serde_json::to_value(&state).unwrap()["permission_context"]["mode"], "explore");
///
/// state.permission_context = PermissionContext::default().into();
/// assert_eq!(std::mem::size_of_val(&state.permission_context), 8);
/// ```
pub struct DefaultBox<T>(Option<Box<T>>);

impl<T: SharedDefault> DefaultBox<T> {
    /// `value`, allocated only when it is not the default.
    pub fn new(value: T) -> Self {
        if value == *T::shared_default() {
            Self(None)
        } else {
            Self(Some(Box::new(value)))
        }
    }

    /// The value.
    pub fn into_inner(self) -> T {
        self.0.map_or_else(T::default, |b| *b)
    }
}

impl<T> Default for DefaultBox<T> {
    /// The default value; allocates nothing.
    fn default() -> Self {
        Self(None)
    }
}

impl<T: SharedDefault> Deref for DefaultBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_deref().unwrap_or_else(|| T::shared_default())
    }
}

impl<T: SharedDefault> DerefMut for DefaultBox<T> {
    /// Allocates the value if it is the shared default.
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(Box::default)
    }
}

impl<T: SharedDefault> From<T> for DefaultBox<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: Clone> Clone for DefaultBox<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: SharedDefault + fmt::Debug> fmt::Debug for DefaultBox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: SharedDefault> PartialEq for DefaultBox<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: SharedDefault> PartialEq<T> for DefaultBox<T> {
    fn eq(&self, other: &T) -> bool {
        **self == *other
    }
}

impl<T: SharedDefault + Serialize> Serialize for DefaultBox<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl<'de, T: SharedDefault + Deserialize<'de>> Deserialize<'de> for DefaultBox<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Self::new)
    }
}
