//! Windows: files and directories only their user can open, what modes 0600 and 0700 are on
//! Unix (docs/platforms.md). sesame does not rely on the ACL a directory inherits from
//! `%APPDATA%` (a `SESAME_DATA_DIR` or `XDG_DATA_HOME` may point anywhere): the sessions
//! directory gets a *protected* DACL (nothing inherited from its parent) with one entry, full
//! control for the current user, inherited by what is created in it; each session file gets the
//! same, set before its contents are written.
//!
//! Built on the Win32 security API (`SetFileSecurityW`, `GetNamedSecurityInfoW`) through
//! `windows-sys`. Run under Wine by scripts/smoke.sh, through `sesame doctor`.

use std::ffi::c_void;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::path::Path;
use std::ptr::null_mut;
use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, GetNamedSecurityInfoW, SE_FILE_OBJECT,
};
use windows_sys::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, ACL_REVISION, ACL_SIZE_INFORMATION, AclSizeInformation,
    AddAccessAllowedAceEx, CONTAINER_INHERIT_ACE, DACL_SECURITY_INFORMATION, EqualSid, GetAce,
    GetAclInformation, GetLengthSid, GetTokenInformation, InitializeAcl,
    InitializeSecurityDescriptor, OBJECT_INHERIT_ACE, PROTECTED_DACL_SECURITY_INFORMATION,
    PSECURITY_DESCRIPTOR, PSID, SE_DACL_PROTECTED, SECURITY_DESCRIPTOR, SetFileSecurityW,
    SetSecurityDescriptorControl, SetSecurityDescriptorDacl, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::Storage::FileSystem::FILE_ALL_ACCESS;
use windows_sys::Win32::System::SystemServices::{
    ACCESS_ALLOWED_ACE_TYPE, SECURITY_DESCRIPTOR_REVISION,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

/// Who may open a user's files anyway, and so does not count as "others": LocalSystem and
/// the Administrators group, as OpenSSH for Windows allows them on a private key. (Wine, which
/// keeps no DACL of its own, shows LocalSystem on every file.)
const TRUSTED: [&str; 2] = ["S-1-5-18", "S-1-5-32-544"];

/// An ACE that applies only to children, not to the object it is on.
const INHERIT_ONLY_ACE: u8 = 0x08;

/// The current user's SID, in the `TOKEN_USER` buffer it came in.
struct UserSid {
    /// u64s: `TOKEN_USER` holds a pointer and must be aligned for one.
    buf: Vec<u64>,
}

impl UserSid {
    fn current() -> io::Result<UserSid> {
        let mut token: HANDLE = null_mut();
        // SAFETY: GetCurrentProcess returns a pseudo-handle; `token` is a valid out pointer.
        if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut len = 0u32;
        // SAFETY: a size query: no buffer, `len` receives the size needed.
        unsafe { GetTokenInformation(token, TokenUser, null_mut(), 0, &mut len) };
        let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
        // SAFETY: `buf` has at least `len` bytes, aligned for TOKEN_USER.
        let ok = unsafe {
            GetTokenInformation(token, TokenUser, buf.as_mut_ptr().cast(), len, &mut len)
        };
        let err = io::Error::last_os_error();
        // SAFETY: `token` was opened above and is closed once.
        unsafe { CloseHandle(token) };
        if ok == 0 {
            return Err(err);
        }
        Ok(UserSid { buf })
    }

    fn sid(&self) -> PSID {
        // SAFETY: GetTokenInformation(TokenUser) filled `buf` with a TOKEN_USER whose SID
        // points into the same buffer, which lives as long as `self`.
        unsafe { (*self.buf.as_ptr().cast::<TOKEN_USER>()).User.Sid }
    }
}

fn wide(path: &Path) -> Vec<u16> {
    path.as_os_str().encode_wide().chain(Some(0)).collect()
}

/// What [`restrict`] is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory: the entry applies to what is created in it too.
    Dir,
    /// A file.
    File,
}

/// Gives `path` a protected DACL with one entry: full control for the current user. For a
/// directory ([`Kind::Dir`]), the entry applies to what is created in it too.
pub fn restrict(path: &Path, kind: Kind) -> io::Result<()> {
    let user = UserSid::current()?;
    // SAFETY: `user.sid()` is a valid SID.
    let sid_len = unsafe { GetLengthSid(user.sid()) } as usize;
    let acl_len = size_of::<ACL>() + size_of::<ACCESS_ALLOWED_ACE>() - size_of::<u32>() + sid_len;
    // u32s: an ACL must be aligned on a DWORD.
    let mut acl_buf = vec![0u32; acl_len.div_ceil(4)];
    let acl = acl_buf.as_mut_ptr().cast::<ACL>();
    let flags = match kind {
        Kind::Dir => OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE,
        Kind::File => 0,
    };
    // SAFETY: `acl` points to `acl_buf.len() * 4` writable bytes, enough for one ACE with
    // this SID; the SID is valid for the call.
    unsafe {
        if InitializeAcl(acl, (acl_buf.len() * 4) as u32, ACL_REVISION) == 0
            || AddAccessAllowedAceEx(acl, ACL_REVISION, flags, FILE_ALL_ACCESS, user.sid()) == 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    // SetFileSecurityW with a descriptor marked SE_DACL_PROTECTED, not SetNamedSecurityInfoW:
    // Wine's SetNamedSecurityInfoW ignores PROTECTED_DACL_SECURITY_INFORMATION and merges the
    // parent's inheritable entries back in (Everyone, as the Wine suite showed).
    let mut sd = SECURITY_DESCRIPTOR::default();
    let psd: PSECURITY_DESCRIPTOR = (&mut sd as *mut SECURITY_DESCRIPTOR).cast();
    let name = wide(path);
    // SAFETY: `psd` points to a SECURITY_DESCRIPTOR that outlives the calls; `acl` is the
    // initialised ACL above; `name` is NUL-terminated.
    let ok = unsafe {
        InitializeSecurityDescriptor(psd, SECURITY_DESCRIPTOR_REVISION) != 0
            && SetSecurityDescriptorDacl(psd, 1, acl, 0) != 0
            && SetSecurityDescriptorControl(psd, SE_DACL_PROTECTED, SE_DACL_PROTECTED) != 0
            && SetFileSecurityW(
                name.as_ptr(),
                DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                psd,
            ) != 0
    };
    if !ok {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Who besides the current user (and [`TRUSTED`]) `path`'s DACL lets in: their SIDs
/// (`S-1-5-...`), or `Everyone (no DACL)`. Empty: only the current user.
pub fn others_allowed(path: &Path) -> io::Result<Vec<String>> {
    let user = UserSid::current()?;
    let name = wide(path);
    let mut dacl: *mut ACL = null_mut();
    let mut sd: PSECURITY_DESCRIPTOR = null_mut();
    // SAFETY: `name` is NUL-terminated; the out pointers are valid; `sd` is freed below.
    let rc = unsafe {
        GetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION,
            null_mut(),
            null_mut(),
            &mut dacl,
            null_mut(),
            &mut sd,
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc as i32));
    }
    let result = if dacl.is_null() {
        Ok(vec!["Everyone (no DACL)".to_string()])
    } else {
        // SAFETY: `dacl` points into `sd`, which is alive until the LocalFree below.
        unsafe { allowed_besides(dacl, user.sid()) }
    };
    // SAFETY: `sd` was allocated by GetNamedSecurityInfoW and is freed once.
    unsafe { LocalFree(sd) };
    result
}

/// SAFETY: `dacl` must be a valid ACL and `user` a valid SID.
unsafe fn allowed_besides(dacl: *const ACL, user: PSID) -> io::Result<Vec<String>> {
    let mut info = ACL_SIZE_INFORMATION {
        AceCount: 0,
        AclBytesInUse: 0,
        AclBytesFree: 0,
    };
    // SAFETY: `info` is an ACL_SIZE_INFORMATION of the size given.
    if unsafe {
        GetAclInformation(
            dacl,
            (&mut info as *mut ACL_SIZE_INFORMATION).cast(),
            size_of::<ACL_SIZE_INFORMATION>() as u32,
            AclSizeInformation,
        )
    } == 0
    {
        return Err(io::Error::last_os_error());
    }
    let mut others = Vec::new();
    for i in 0..info.AceCount {
        let mut ace: *mut c_void = null_mut();
        // SAFETY: `i` is below the ACL's ACE count.
        if unsafe { GetAce(dacl, i, &mut ace) } == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: every ACE starts with an ACE_HEADER.
        let header = unsafe { &*ace.cast::<ACE_HEADER>() };
        if u32::from(header.AceType) != ACCESS_ALLOWED_ACE_TYPE
            || header.AceFlags & INHERIT_ONLY_ACE != 0
        {
            continue;
        }
        // SAFETY: an ACCESS_ALLOWED_ACE's SID starts at SidStart.
        let sid =
            unsafe { (&raw mut (*ace.cast::<ACCESS_ALLOWED_ACE>()).SidStart).cast::<c_void>() };
        // SAFETY: both are valid SIDs.
        if unsafe { EqualSid(sid, user) } == 0 {
            let who = sid_string(sid);
            if !TRUSTED.contains(&who.as_str()) {
                others.push(who);
            }
        }
    }
    Ok(others)
}

fn sid_string(sid: PSID) -> String {
    let mut text: *mut u16 = null_mut();
    // SAFETY: `sid` is valid; `text` receives a LocalAlloc'd, NUL-terminated string.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 || text.is_null() {
        return "an unreadable SID".to_string();
    }
    // SAFETY: `text` is NUL-terminated; it is freed once, after being copied.
    unsafe {
        let len = (0..).take_while(|&i| *text.add(i) != 0).count();
        let s = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
        LocalFree(text.cast());
        s
    }
}
