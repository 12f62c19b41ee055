//! An in-memory store for tests of the code that uses a store.

use super::{Extra, StoreError, TokenStore};
use crate::session::Session;
use std::collections::HashMap;
use std::sync::Mutex;

/// Sessions kept as JSON in a map, for tests; nothing outlives the value.
#[derive(Debug, Default)]
pub struct MemoryStore {
    sessions: Mutex<HashMap<String, String>>,
}

impl TokenStore for MemoryStore {
    fn describe(&self, _profile: &str) -> String {
        "memory".into()
    }

    fn load(&self, profile: &str) -> Result<Session, StoreError> {
        let map = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let text = map.get(profile).ok_or(StoreError::NotFound)?;
        Session::from_json(text).map_err(|e| StoreError::Damaged {
            what: "the session held in memory".into(),
            problem: format!("is not a session ({e})"),
        })
    }

    fn save(&self, session: &Session) -> Result<(), StoreError> {
        let mut map = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.insert(session.profile.clone(), session.to_json());
        Ok(())
    }

    fn delete(&self, profile: &str) -> Result<bool, StoreError> {
        let mut map = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for extra in Extra::ALL {
            map.remove(&extra.key(profile));
        }
        Ok(map.remove(profile).is_some())
    }

    fn load_extra(&self, profile: &str, extra: Extra) -> Result<Option<String>, StoreError> {
        let map = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(map.get(&extra.key(profile)).cloned())
    }

    fn save_extra(&self, profile: &str, extra: Extra, text: &str) -> Result<(), StoreError> {
        let mut map = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.insert(extra.key(profile), text.to_string());
        Ok(())
    }
}
