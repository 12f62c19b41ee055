//! The config file, and the settings resolved from it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = sesame_login::config::ConfigFile::parse(text) {
        for name in config.profiles.keys() {
            let _ = sesame_login::settings::validate_profile(name);
        }
    }
});
