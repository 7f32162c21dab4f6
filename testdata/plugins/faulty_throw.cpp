// faulty_throw lets a C++ exception escape into the C plugin faulty.c (built with
// FAULTY_CXX): no handler is found, so std::terminate prints "terminate called after
// throwing an instance of 'std::runtime_error'" and aborts (SIGABRT).
#include <stdexcept>

extern "C" void faulty_throw(void) { throw std::runtime_error("faulty: a C++ exception escapes"); }
