// One-way latency of a word handed between two SMs through L2 (the fused forward's exchange in
// its simplest form): block 0 and block `peer` pass a counter back and forth `iters` times with
// relaxed 64-bit stores and volatile polls; one-way = elapsed cycles / (2 * iters).
// nvcc -O3 -arch=sm_90a -o /tmp/pingpong benchmarks/fused_dev/pingpong.cu && /tmp/pingpong
#include <algorithm>
#include <cstdio>
#include <vector>

__device__ __forceinline__ unsigned long long ld_poll(const unsigned long long* p) {
  unsigned long long v;
  asm volatile("ld.volatile.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ void st_word(unsigned long long* p, unsigned long long v) {
  asm volatile("st.relaxed.gpu.global.u64 [%0], %1;" ::"l"(p), "l"(v) : "memory");
}

__global__ void pingpong(unsigned long long* words, int peer, int iters, long long* out) {
  const bool a = blockIdx.x == 0, b = (int)blockIdx.x == peer;
  if ((!a && !b) || threadIdx.x != 0) return;
  unsigned smid;
  asm volatile("mov.u32 %0, %%smid;" : "=r"(smid));
  unsigned long long* mine = words + (a ? 0 : 32);  // separate 256-byte lines
  unsigned long long* theirs = words + (a ? 32 : 0);
  long long t0 = clock64();
  for (int i = 1; i <= iters; ++i) {
    if (a) {
      st_word(mine, i);
      while (ld_poll(theirs) != (unsigned long long)i) {
      }
    } else {
      while (ld_poll(theirs) != (unsigned long long)i) {
      }
      st_word(mine, i);
    }
  }
  long long t1 = clock64();
  if (a) {
    out[0] = t1 - t0;
    out[1] = smid;
  } else {
    out[2] = smid;
  }
}

int main() {
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  unsigned long long* words;
  long long* out;
  cudaMalloc(&words, 4096);
  cudaMallocManaged(&out, 3 * sizeof(long long));
  const int iters = 20000;
  std::vector<double> oneway;
  for (int peer = 1; peer < sms; ++peer) {
    cudaMemset(words, 0, 4096);
    // one block per SM (large dynamic shared memory), so blocks 0 and peer sit on different SMs
    cudaFuncSetAttribute(pingpong, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024);
    pingpong<<<sms, 32, 200 * 1024>>>(words, peer, iters, out);
    if (cudaDeviceSynchronize() != cudaSuccess) {
      printf("launch failed\n");
      return 1;
    }
    const double ow = (double)out[0] / (2.0 * iters);
    oneway.push_back(ow);
    if (peer % 8 == 1) printf("peer block %3d: sm %3lld <-> sm %3lld one-way %.0f cycles\n", peer,
                              out[1], out[2], ow);
  }
  std::sort(oneway.begin(), oneway.end());
  printf("one-way latency over %zu SM pairs (cycles): min %.0f  median %.0f  p90 %.0f  max %.0f\n",
         oneway.size(), oneway.front(), oneway[oneway.size() / 2], oneway[oneway.size() * 9 / 10],
         oneway.back());
  return 0;
}
