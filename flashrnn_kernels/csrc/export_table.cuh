// Tables a build exports for launches without host code (NVRTC builds, launched from Python
// through the CUDA driver): an array of FrnnExport {name, a, b}, read from the cubin itself
// (flashrnn_kernels/nvrtc.py: exported_table), ending with an entry whose name is empty.
//
// A struct's layout is exported as one entry per field, {name, size, alignment} in order, and a
// closing entry {"", sizeof, alignof}: the reader places the fields by the C rule (each at the
// next multiple of its alignment) and checks that it arrives at the size. (NVRTC has no offsetof
// in constant initialisers.) FRNN_EXPORT_FIELD makes a field's entry from an X(type, name) list.
#pragma once

struct FrnnExport {
  char name[24];
  long long a, b;
};

#define FRNN_EXPORT_FIELD(type, name) {#name, (long long)sizeof(type), (long long)alignof(type)},
