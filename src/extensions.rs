//! [`Extensions`]: values of any type, at most one per type, carried by a
//! request (and, shared, by a router's state).
//!
//! A middleware hands a handler what it found out (a request id, the
//! authenticated user) by inserting it into
//! [`Request::extensions_mut`](crate::Request::extensions_mut); the
//! handler reads it back by its type. This module performs no I/O.

use std::any::{Any, TypeId};
use std::fmt;

/// Extensions is a map from a type to one value of that type.
///
/// An empty map allocates nothing, so a request that carries no
/// extensions costs nothing for them. Lookups compare type ids one by one:
/// a request carries a handful of extensions at most, and a short scan
/// beats hashing.
///
/// # Examples
/// ```
/// use sockhttp::Extensions;
///
/// #[derive(Debug, PartialEq)]
/// struct RequestId(u64);
///
/// let mut ext = Extensions::new();
/// assert_eq!(ext.insert(RequestId(7)), None);
/// assert_eq!(ext.get::<RequestId>(), Some(&RequestId(7)));
/// assert_eq!(ext.insert(RequestId(8)), Some(RequestId(7))); // one per type
/// assert_eq!(ext.get::<String>(), None);
/// assert_eq!(ext.remove::<RequestId>(), Some(RequestId(8)));
/// assert!(ext.is_empty());
/// ```
#[derive(Default)]
pub struct Extensions {
    /// Empty (and unallocated) until the first insert.
    entries: Vec<Entry>,
}

struct Entry {
    id: TypeId,
    /// For `Debug` only.
    name: &'static str,
    value: Box<dyn Any + Send + Sync>,
}

impl Extensions {
    /// Makes an empty map; allocates nothing.
    pub fn new() -> Extensions {
        Extensions::default()
    }

    /// Inserts `value`, returning the value of the same type it replaces.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) -> Option<T> {
        let id = TypeId::of::<T>();
        if let Some(e) = self.entries.iter_mut().find(|e| e.id == id) {
            let old = std::mem::replace(&mut e.value, Box::new(value));
            return old.downcast::<T>().ok().map(|b| *b);
        }
        self.entries.push(Entry {
            id,
            name: std::any::type_name::<T>(),
            value: Box::new(value),
        });
        None
    }

    /// Returns the value of type `T`, if there is one.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.entries
            .iter()
            .find(|e| e.id == id)
            .and_then(|e| e.value.downcast_ref::<T>())
    }

    /// Returns the value of type `T` for changing, if there is one.
    pub fn get_mut<T: 'static>(&mut self) -> Option<&mut T> {
        let id = TypeId::of::<T>();
        self.entries
            .iter_mut()
            .find(|e| e.id == id)
            .and_then(|e| e.value.downcast_mut::<T>())
    }

    /// Removes and returns the value of type `T`, if there is one.
    pub fn remove<T: 'static>(&mut self) -> Option<T> {
        let id = TypeId::of::<T>();
        let at = self.entries.iter().position(|e| e.id == id)?;
        self.entries
            .swap_remove(at)
            .value
            .downcast::<T>()
            .ok()
            .map(|b| *b)
    }

    /// Reports whether there is a value of type `T`.
    pub fn contains<T: 'static>(&self) -> bool {
        let id = TypeId::of::<T>();
        self.entries.iter().any(|e| e.id == id)
    }

    /// Returns the number of values.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Reports whether the map holds no value.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes every value.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

impl fmt::Debug for Extensions {
    /// Lists the types of the values (the values need not be `Debug`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.entries.iter().map(|e| e.name))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_type() {
        let mut ext = Extensions::new();
        assert!(ext.is_empty());
        assert_eq!(ext.insert(1u32), None);
        assert_eq!(ext.insert("name"), None);
        assert_eq!(ext.insert(2u32), Some(1));
        assert_eq!(ext.len(), 2);
        *ext.get_mut::<u32>().unwrap() += 1;
        assert_eq!(ext.get::<u32>(), Some(&3));
        assert_eq!(ext.get::<&str>(), Some(&"name"));
        assert!(ext.contains::<&str>());
        assert!(!ext.contains::<u64>());
        assert_eq!(ext.remove::<u32>(), Some(3));
        assert_eq!(ext.remove::<u32>(), None);
        assert_eq!(format!("{ext:?}"), r#"{"&str"}"#);
        ext.clear();
        assert!(ext.is_empty());
    }

    #[test]
    fn an_empty_map_allocates_nothing() {
        let ext = Extensions::new();
        assert_eq!(ext.entries.capacity(), 0);
    }
}
