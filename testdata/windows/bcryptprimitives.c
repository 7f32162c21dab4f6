/*
 * TEST SCAFFOLDING for running Go programs under Wine 8.0 (make test-windows); never
 * shipped, never needed on Windows itself.
 *
 * Go's runtime (1.21+) takes its random numbers from ProcessPrng in bcryptprimitives.dll,
 * which Windows 10+ has and Wine 8.0 lacks: a Go program dies at start-up there with
 * "fatal error: bcryptprimitives.dll not found". This DLL provides ProcessPrng on top of
 * RtlGenRandom (SystemFunction036 of advapi32, which Wine has). mk/windows.mk builds it at
 * test time and copies it into the throw-away Wine prefix's C:\windows\system32.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length); /* RtlGenRandom */

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
