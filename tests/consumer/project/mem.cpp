// The C library functions a freestanding compiler still calls on its own: GCC and Clang emit
// memset/memcpy for large zeroing and struct copies even with -ffreestanding. A kernel brings
// its own, and so does this consumer. String instructions rather than byte loops, because the
// optimizer can turn such a loop back into a call to memset itself.
#include <stddef.h>

extern "C" void* memset(void* dst, int value, size_t n) {
  void* d = dst;
  asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(value) : "memory");
  return dst;
}

extern "C" void* memcpy(void* dst, const void* src, size_t n) {
  void* d = dst;
  asm volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
  return dst;
}
