//! `--store auto` once a keychain answered: the keychain first, the file store for sessions that
//! were saved there (by `--store file`, or by an earlier fallback).

use super::{Extra, StoreError, TokenStore};
use crate::session::Session;

/// Two stores as one: loads from the primary, else the secondary; saves to the primary and then
/// removes the secondary's copy; deletes from both.
pub struct Fallback<P, S> {
    primary: P,
    secondary: S,
}

impl<P: TokenStore, S: TokenStore> Fallback<P, S> {
    /// Combines `primary` (for `auto`, the keychain) and `secondary` (the file store).
    pub fn new(primary: P, secondary: S) -> Self {
        Fallback { primary, secondary }
    }
}

impl<P: TokenStore, S: TokenStore> TokenStore for Fallback<P, S> {
    fn describe(&self, profile: &str) -> String {
        match self.primary.load(profile) {
            Err(StoreError::NotFound) if self.secondary.load(profile).is_ok() => {
                self.secondary.describe(profile)
            }
            _ => self.primary.describe(profile),
        }
    }

    fn load(&self, profile: &str) -> Result<Session, StoreError> {
        match self.primary.load(profile) {
            Err(StoreError::NotFound) => self.secondary.load(profile),
            other => other,
        }
    }

    /// Saves to the keychain, then removes a copy the file store may still hold, so that the
    /// profile has exactly one session.
    fn save(&self, session: &Session) -> Result<(), StoreError> {
        self.primary.save(session)?;
        let _ = self.secondary.delete(&session.profile);
        Ok(())
    }

    fn encrypted(&self) -> bool {
        // Saves go to the primary.
        self.primary.encrypted()
    }

    fn audit(&self, profile: &str) -> Vec<String> {
        let mut w = self.primary.audit(profile);
        w.extend(self.secondary.audit(profile));
        w
    }

    fn delete(&self, profile: &str) -> Result<bool, StoreError> {
        let a = self.primary.delete(profile)?;
        let b = self.secondary.delete(profile)?;
        Ok(a || b)
    }

    fn load_extra(&self, profile: &str, extra: Extra) -> Result<Option<String>, StoreError> {
        match self.primary.load_extra(profile, extra)? {
            Some(text) => Ok(Some(text)),
            None => self.secondary.load_extra(profile, extra),
        }
    }

    /// Saved where sessions are saved: the keychain.
    fn save_extra(&self, profile: &str, extra: Extra, text: &str) -> Result<(), StoreError> {
        self.primary.save_extra(profile, extra, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::sample;
    use crate::store::MemoryStore;

    #[test]
    fn reads_the_secondary_when_primary_has_nothing() {
        let f = Fallback::new(MemoryStore::default(), MemoryStore::default());
        f.secondary.save(&sample("p", "from-file", None)).unwrap();
        assert_eq!(f.load("p").unwrap().token.expose(), "from-file");
        f.save(&sample("p", "new", None)).unwrap();
        assert_eq!(f.load("p").unwrap().token.expose(), "new");
        assert!(matches!(f.secondary.load("p"), Err(StoreError::NotFound)));
        assert!(f.delete("p").unwrap());
        assert!(matches!(f.load("p"), Err(StoreError::NotFound)));
        assert!(!f.delete("p").unwrap());
    }
}
