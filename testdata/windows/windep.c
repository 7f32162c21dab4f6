/*
 * A DLL a test plugin depends on (testdata/windows/depuser.c imports windep_answer from
 * it). The Windows test of the DLL search order puts both into one folder: the loader must
 * find this DLL beside the plugin, not only in the system folders or on PATH.
 */
#include <stdint.h>

__declspec(dllexport) uint32_t windep_answer(void) { return 42; }
