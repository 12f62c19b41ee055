/* Wine 8 has no bcryptprimitives.dll, whose ProcessPrng the Rust standard library calls for
 * random bytes on Windows 10+. This stand-in, placed beside sesame.exe for the Wine smoke suite
 * only (scripts/wine-smoke.sh), answers it with BCryptGenRandom, which Wine has. It is never
 * shipped: real Windows has the DLL. */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x7fffffffu ? 0x7fffffffu : (ULONG)len;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
