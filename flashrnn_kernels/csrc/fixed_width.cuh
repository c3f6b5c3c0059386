// Fixed-width integer types for both compilers of the kernels: <stdint.h> under nvcc; NVRTC has
// no host headers, so there the same names are declared for its data model (LP64: int 32 bits,
// long long 64 bits, as on every platform CUDA targets), checked below.
#pragma once
#if defined(__CUDACC_RTC__)
typedef signed char int8_t;
typedef unsigned char uint8_t;
typedef short int16_t;
typedef unsigned short uint16_t;
typedef int int32_t;
typedef unsigned int uint32_t;
typedef long long int64_t;
typedef unsigned long long uint64_t;
typedef unsigned long long uintptr_t;
#else
#include <stdint.h>
#endif
static_assert(sizeof(int32_t) == 4 && sizeof(uint32_t) == 4, "32-bit integer types");
static_assert(sizeof(int64_t) == 8 && sizeof(uint64_t) == 8 && sizeof(uintptr_t) == sizeof(void*),
              "64-bit integer types");
