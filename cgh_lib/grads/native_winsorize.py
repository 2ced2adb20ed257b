"""Native (C++) winsorization kernels, compiled on first use and loaded with ctypes.

Why this mechanism (see README "Winsorization kernels"): the kernel is a few
hundred lines of plain C++ with GCC/Clang vector extensions, no torch headers,
so it builds in ~5 s of CPU with whatever C++ compiler the machine has (g++ or
clang++; x86 with or without AVX-512, ARM), is cached on disk per source,
compiler and CPU, and does not depend on torch's C++ ABI. A
`torch.utils.cpp_extension` build takes ~1 min (torch headers) and breaks
with torch upgrades; torch.compile needs minutes per (batch, c) because it
unrolls the batch; numba is not a dependency. When no compiler works the
caller falls back to the eager torch kernel.

Two entry points, both bit-equal to `winsorized_mean_reference` (clip every
coordinate's B values to its (c+1)-th smallest / largest, add the clipped
values in batch order in float32, divide by B):

* ``winsor_rows(x [B, w])``: winsorized mean of materialized per-example values
  (biases, the BatchNorm shared-forward path, any per-example tensor);
* ``winsor_outer(dz [B, out], a [B, in])``: the winsorized mean of the per-example
  weight gradients ``dz[b, o] * a[b, i]`` of a Linear layer, generated tile by
  tile in registers and never written to memory (the [B, out, in] tensor that
  materializing needs is what made winsorization ~20x an SGD step).

Per coordinate the kernel keeps the c+1 largest and c+1 smallest values seen
so far in registers, inserting each new value with a min/max compare-exchange
chain (exact with ties, no branches), then makes a second pass that clips and
sums. For a Linear layer with non-negative inputs (ReLU, pixels) the largest
values can only come from examples with dz > 0 and the smallest from dz < 0,
so each value goes through one chain instead of two. Column tiles are split over torch's thread count for large layers.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import torch
from torch import Tensor


_SOURCE = r"""
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <cstdlib>
#include <thread>
#include <vector>

#if defined(__AVX512F__)
#define W 16
#elif defined(__AVX__)
#define W 8
#else
#define W 4
#endif

typedef float vf __attribute__((vector_size(W * 4)));

static inline vf vmax(vf a, vf b) { return a > b ? a : b; }
static inline vf vmin(vf a, vf b) { return a < b ? a : b; }
static inline vf ld(const float* p) { vf v; std::memcpy(&v, p, sizeof(v)); return v; }
static inline vf splat(float s) { return s - vf{}; }  // broadcast; s - 0 is s exactly, -0 and inf included
static inline float hmin(vf v) { float m = v[0]; for (int l = 1; l < W; ++l) m = v[l] < m ? v[l] : m; return m; }
static inline float hmax(vf v) { float m = v[0]; for (int l = 1; l < W; ++l) m = v[l] > m ? v[l] : m; return m; }

// Run f(begin, end) over [0, n) split into nthreads contiguous ranges (the caller's thread
// takes the first). Each output column is computed by one thread in the same order as with
// one thread, so results do not depend on the thread count.
template <class F> static int parallel_for(long n, int nthreads, F f) {
  if (nthreads > n) nthreads = (int)n;
  if (nthreads <= 1) return f(0L, n);
  const long chunk = (n + nthreads - 1) / nthreads;
  std::vector<int> rc(nthreads, 0);
  std::vector<std::thread> ts;
  for (int t = 1; t < nthreads; ++t) {
    long b = t * chunk, e = b + chunk < n ? b + chunk : n;
    if (b < e) ts.emplace_back([&rc, &f, t, b, e] { rc[t] = f(b, e); });
  }
  rc[0] = f(0L, chunk < n ? chunk : n);
  for (auto& th : ts) th.join();
  for (int r : rc) if (r) return r;
  return 0;
}

// Insert v into the K largest values kept so far (top[0] the largest): a
// compare-exchange chain, exact with ties (only values move), branch-free.
template <int K> static inline void ins_top(vf (&top)[K], vf v) {
  for (int j = 0; j < K; ++j) { vf t = top[j]; top[j] = vmax(t, v); v = vmin(t, v); }
}
template <int K> static inline void ins_bot(vf (&bot)[K], vf v) {
  for (int j = 0; j < K; ++j) { vf t = bot[j]; bot[j] = vmin(t, v); v = vmax(t, v); }
}

// Second pass shared by every kernel: clip each value to [lo, hi] and add in
// batch order in float32 (values are bounded once clipped), then divide by B.
template <int NV, bool OUTER>
static inline void clipped_mean(const float* src, long ld_src, const float* d, int B,
                                const vf (&lo)[NV], const vf (&hi)[NV], float* dst) {
  vf acc[NV];
  for (int n = 0; n < NV; ++n) acc[n] = splat(0.0f);
  for (int b = 0; b < B; ++b) {
    const float* row = src + (long)b * ld_src;
    const vf db = splat(OUTER ? d[b] : 1.0f);
    for (int n = 0; n < NV; ++n) {
      vf v = ld(row + n * W);
      if (OUTER) v = v * db;
      acc[n] += vmin(vmax(v, lo[n]), hi[n]);
    }
  }
  const vf nb = splat((float)B);
  for (int n = 0; n < NV; ++n) { vf r = acc[n] / nb; std::memcpy(dst + n * W, &r, sizeof(r)); }
}

// A tile of NV vectors of W coordinates; value b of coordinate (n, l) is
//   OUTER: d[b] * src[b * ld_src + n * W + l]  (a Linear's per-example weight gradient)
//   else : src[b * ld_src + n * W + l]         (materialized values).
// Every value goes through both selection chains.
template <int K, int NV, bool OUTER>
static inline void tile_full(const float* src, long ld_src, const float* d, int B, float* dst) {
  vf top[NV][K], bot[NV][K];
  for (int n = 0; n < NV; ++n)
    for (int j = 0; j < K; ++j) { top[n][j] = splat(-__builtin_inff()); bot[n][j] = splat(__builtin_inff()); }
  for (int b = 0; b < B; ++b) {
    const float* row = src + (long)b * ld_src;
    const vf db = splat(OUTER ? d[b] : 1.0f);
    for (int n = 0; n < NV; ++n) {
      vf v = ld(row + n * W);
      if (OUTER) v = v * db;
      ins_top<K>(top[n], v);
      ins_bot<K>(bot[n], v);
    }
  }
  vf lo[NV], hi[NV];
  for (int n = 0; n < NV; ++n) { lo[n] = bot[n][K - 1]; hi[n] = top[n][K - 1]; }
  clipped_mean<NV, OUTER>(src, ld_src, d, B, lo, hi, dst);
}

// Outer-product tile when every a >= 0 and this output row has >= K positive
// and >= K negative d[b]: then the K largest values d[b]*a[b,i] come from the
// b with d[b] > 0 only (they are >= 0 >= all others) and the K smallest from
// the b with d[b] < 0 only, so each value goes through one selection chain
// instead of two. (Pruning by bounds d[b]*max(a) was tried: on ReLU
// activations it skipped too little to pay for its branches.)
template <int K, int NV>
static inline void tile_split(const float* pack, int T, const float* d, const int* pidx, int np,
                              const int* nidx, int nn, const int* zidx, int nz, int B, float* dst) {
  vf top[NV][K], bot[NV][K];
  for (int n = 0; n < NV; ++n)
    for (int j = 0; j < K; ++j) { top[n][j] = splat(-__builtin_inff()); bot[n][j] = splat(__builtin_inff()); }
  for (int q = 0; q < np; ++q) {
    const int b = pidx[q];
    const vf dv = splat(d[b]);
    for (int n = 0; n < NV; ++n) ins_top<K>(top[n], ld(pack + (long)b * T + n * W) * dv);
  }
  for (int q = 0; q < nn; ++q) {
    const int b = nidx[q];
    const vf dv = splat(d[b]);
    for (int n = 0; n < NV; ++n) ins_bot<K>(bot[n], ld(pack + (long)b * T + n * W) * dv);
  }
  // lo <= 0 <= hi, so an example with d == 0 (values +-0) clips to a zero, which leaves the
  // float32 sum as it is (it starts at +0, never becomes -0): the clipped sum runs over the
  // d != 0 examples alone, in batch order, bit-equal to the pass over all B.
  vf lo[NV], hi[NV], acc[NV];
  for (int n = 0; n < NV; ++n) { lo[n] = bot[n][K - 1]; hi[n] = top[n][K - 1]; acc[n] = splat(0.0f); }
  for (int q = 0; q < nz; ++q) {
    const int b = zidx[q];
    const vf db = splat(d[b]);
    for (int n = 0; n < NV; ++n) acc[n] += vmin(vmax(ld(pack + (long)b * T + n * W) * db, lo[n]), hi[n]);
  }
  const vf nb = splat((float)B);
  for (int n = 0; n < NV; ++n) { vf r = acc[n] / nb; std::memcpy(dst + n * W, &r, sizeof(r)); }
}

// tile_split when zeros are skipped: the examples come as bit masks (bit b of word b / 64)
// of those with d > 0 (pos), d < 0 (neg) and d != 0 (nz), and tm marks the examples whose
// row of this tile has a non-zero input. An example outside tm or with d == 0 has only
// zero values here (d, a finite). The chains start at 0 instead of -inf / +inf: the K
// largest values of the d > 0 examples are >= 0 and there are >= K of them, so the K-th
// largest of (the non-zero rows' values and K zeros) is the same number, whatever
// zeros were skipped (a zero's sign never matters below). Then lo <= 0 <= hi, so a
// skipped value clips to a zero, and adding a zero leaves the float32 sum unchanged
// (it starts at +0 and is never -0): the second pass adds the other values alone, in
// batch order. Result: bit-equal to tile_split, at a cost in the non-zero rows only.
template <int K, int NV>
static inline void tile_split_sparse(const float* pack, int T, const float* d, const uint64_t* pos,
                                     const uint64_t* neg, const uint64_t* nz, const uint64_t* tm, int nw,
                                     int B, float* dst) {
  vf top[NV][K], bot[NV][K];
  for (int n = 0; n < NV; ++n)
    for (int j = 0; j < K; ++j) { top[n][j] = splat(0.0f); bot[n][j] = splat(0.0f); }
  for (int w = 0; w < nw; ++w) {
    for (uint64_t bits = pos[w] & tm[w]; bits; bits &= bits - 1) {
      const int b = w * 64 + __builtin_ctzll(bits);
      const vf dv = splat(d[b]);
      for (int n = 0; n < NV; ++n) ins_top<K>(top[n], ld(pack + (long)b * T + n * W) * dv);
    }
    for (uint64_t bits = neg[w] & tm[w]; bits; bits &= bits - 1) {
      const int b = w * 64 + __builtin_ctzll(bits);
      const vf dv = splat(d[b]);
      for (int n = 0; n < NV; ++n) ins_bot<K>(bot[n], ld(pack + (long)b * T + n * W) * dv);
    }
  }
  vf lo[NV], hi[NV], acc[NV];
  for (int n = 0; n < NV; ++n) { lo[n] = bot[n][K - 1]; hi[n] = top[n][K - 1]; acc[n] = splat(0.0f); }
  for (int w = 0; w < nw; ++w) {
    for (uint64_t bits = nz[w] & tm[w]; bits; bits &= bits - 1) {
      const int b = w * 64 + __builtin_ctzll(bits);
      const vf db = splat(d[b]);
      for (int n = 0; n < NV; ++n) acc[n] += vmin(vmax(ld(pack + (long)b * T + n * W) * db, lo[n]), hi[n]);
    }
  }
  const vf nb = splat((float)B);
  for (int n = 0; n < NV; ++n) { vf r = acc[n] / nb; std::memcpy(dst + n * W, &r, sizeof(r)); }
}

// Generic K (large c): lists in heap arrays, one vector at a time, every value in both lists.
template <bool OUTER>
static void tile_generic(int K, const float* src, long ld_src, const float* d, int B, float* dst) {
  vf* top = (vf*)std::aligned_alloc(alignof(vf), sizeof(vf) * 2 * K);  // vf needs its alignment
  vf* bot = top + K;
  for (int j = 0; j < K; ++j) { top[j] = splat(-__builtin_inff()); bot[j] = splat(__builtin_inff()); }
  for (int b = 0; b < B; ++b) {
    vf v = ld(src + (long)b * ld_src);
    if (OUTER) v = v * splat(d[b]);
    vf u = v;
    for (int j = 0; j < K; ++j) { vf t = top[j]; top[j] = vmax(t, u); u = vmin(t, u); }
    for (int j = 0; j < K; ++j) { vf t = bot[j]; bot[j] = vmin(t, v); v = vmax(t, v); }
  }
  vf lo[1] = {bot[K - 1]}, hi[1] = {top[K - 1]};
  clipped_mean<1, OUTER>(src, ld_src, d, B, lo, hi, dst);
  std::free(top);
}

// Pack columns [s, s+T) of a [B, ncols] into [B][T], zero-padded (a tile's
// inputs, contiguous and small enough for L1).
static void pack_cols(const float* a, int B, long ncols, long s, int T, float* pack) {
  long m = ncols - s < T ? ncols - s : T;
  for (int b = 0; b < B; ++b) {
    float* row = pack + (long)b * T;
    std::memcpy(row, a + (long)b * ncols + s, sizeof(float) * m);
    if (m < T) std::memset(row + m, 0, sizeof(float) * (T - m));
  }
}

template <int K>
static int rows_k(const float* x, int B, long w, float* out, int nthreads) {
  constexpr int NV = K <= 4 ? 2 : 1;
  constexpr int T = NV * W;
  const long full = w / T;  // whole tiles; the ragged tail (if any) is done after
  int rc = parallel_for(full, nthreads, [&](long t0, long t1) {
    for (long t = t0; t < t1; ++t) tile_full<K, NV, false>(x + t * T, w, nullptr, B, out + t * T);
    return 0;
  });
  if (rc) return rc;
  const long s = full * T;
  if (s < w) {
    float* pack = (float*)std::malloc(sizeof(float) * (size_t)B * T);
    if (!pack) return 1;
    float res[T];
    pack_cols(x, B, w, s, T, pack);
    tile_full<K, NV, false>(pack, T, nullptr, B, res);
    std::memcpy(out + s, res, sizeof(float) * (w - s));
    std::free(pack);
  }
  return 0;
}

static int rows_generic(int K, const float* x, int B, long w, float* out) {
  float* pack = (float*)std::malloc(sizeof(float) * (size_t)B * W);
  if (!pack) return 1;
  float res[W];
  for (long s = 0; s < w; s += W) {
    pack_cols(x, B, w, s, W, pack);
    tile_generic<false>(K, pack, W, nullptr, B, res);
    std::memcpy(out + s, res, sizeof(float) * (w - s < W ? w - s : W));
  }
  std::free(pack);
  return 0;
}

struct OuterPlan {  // per output row o: its B values of dz, and which b have d > 0 / d < 0 / d != 0
  float* dt = nullptr; int* pidx = nullptr; int* nidx = nullptr; int* zidx = nullptr;
  int* np = nullptr; int* nn = nullptr; int* nz = nullptr;
  ~OuterPlan() {
    std::free(dt); std::free(pidx); std::free(nidx); std::free(zidx); std::free(np); std::free(nn); std::free(nz);
  }
};

static bool plan_outer(const float* dz, int B, long n_out, OuterPlan& p) {
  size_t n = (size_t)B * (n_out ? n_out : 1);
  p.dt = (float*)std::malloc(sizeof(float) * n);
  p.pidx = (int*)std::malloc(sizeof(int) * n);
  p.nidx = (int*)std::malloc(sizeof(int) * n);
  p.np = (int*)std::malloc(sizeof(int) * (n_out + 1));
  p.nn = (int*)std::malloc(sizeof(int) * (n_out + 1));
  p.zidx = (int*)std::malloc(sizeof(int) * n);
  p.nz = (int*)std::malloc(sizeof(int) * (n_out + 1));
  if (!p.dt || !p.pidx || !p.nidx || !p.np || !p.nn || !p.zidx || !p.nz) return false;
  for (int b = 0; b < B; ++b)
    for (long o = 0; o < n_out; ++o) p.dt[o * B + b] = dz[(long)b * n_out + o];
  for (long o = 0; o < n_out; ++o) {
    const float* d = p.dt + o * B;
    int* pi = p.pidx + o * B; int* ni = p.nidx + o * B; int* zi = p.zidx + o * B;
    int np = 0, nn = 0, nz = 0;
    for (int b = 0; b < B; ++b) {
      if (d[b] > 0) pi[np++] = b; else if (d[b] < 0) ni[nn++] = b;
      if (d[b] != 0) zi[nz++] = b;  // NaN included: only exact zeros are ever skipped
    }
    p.np[o] = np; p.nn[o] = nn; p.nz[o] = nz;
  }
  return true;
}

static bool all_finite_nonneg(const float* a, long n) {
  for (long i = 0; i < n; ++i) if (!(a[i] >= 0.0f && a[i] <= __FLT_MAX__)) return false;
  return true;
}

static bool all_finite(const float* x, long n) {
  for (long i = 0; i < n; ++i) if (!(x[i] >= -__FLT_MAX__ && x[i] <= __FLT_MAX__)) return false;
  return true;
}

// Whether at least 2/3 of the inputs are 0, where skipping zeros pays: measured on CG2020 Fig 4's
// large profile (1 thread, AVX-512), the 784 -> 256 layer's MNIST pixels (81% zeros) went from
// 1.78 to 1.26 ms at c = 1 (4.27 to 3.31 at c = 8), the 256 -> 256 layers' ReLU inputs (~54%
// zeros) from 0.67 to 0.76 ms: below that the bit-mask loops cost more than the zeros save.
static bool mostly_zero(const float* a, long n) {
  long z = 0;
  for (long i = 0; i < n; ++i) z += a[i] == 0.0f;
  return 3 * z >= 2 * n;
}

// outer_k when most a are 0, every a >= 0 and every dz is finite (MNIST pixels): zeros are
// skipped (tile_split_sparse). Input columns are visited densest first (by how many
// examples are non-zero there in this batch), so that the zeros of sparse inputs (MNIST's
// ~81% zero pixels) fill whole tile rows; each column's result does not depend on which
// tile it is in, so the order changes no bit.
template <int K>
static int outer_sparse(const float* a, int B, long n_out, long n_in, float* out, int nthreads,
                        const OuterPlan& p) {
  constexpr int T = 2 * W;
  const int nw = (B + 63) / 64;
  std::vector<uint64_t> pos((size_t)n_out * nw, 0), neg((size_t)n_out * nw, 0), nz((size_t)n_out * nw, 0);
  for (long o = 0; o < n_out; ++o)
    for (int b = 0; b < B; ++b) {
      const float d = p.dt[o * B + b];
      const uint64_t bit = 1ull << (b % 64);
      if (d > 0) pos[o * nw + b / 64] |= bit;
      if (d < 0) neg[o * nw + b / 64] |= bit;
      if (d != 0) nz[o * nw + b / 64] |= bit;
    }
  std::vector<int> cnt(n_in, 0);
  for (int b = 0; b < B; ++b)
    for (long i = 0; i < n_in; ++i) cnt[i] += a[(long)b * n_in + i] != 0.0f;
  std::vector<long> perm(n_in);
  for (long i = 0; i < n_in; ++i) perm[i] = i;
  std::stable_sort(perm.begin(), perm.end(), [&](long x, long y) { return cnt[x] > cnt[y]; });
  const long nblocks = (n_in + T - 1) / T;
  return parallel_for(nblocks, nthreads, [&](long b0, long b1) {
    float* pack = (float*)std::malloc(sizeof(float) * (size_t)B * T);
    if (!pack) return 1;
    std::vector<uint64_t> tm(nw);
    float res[T];
    for (long blk = b0; blk < b1; ++blk) {
      const long s = blk * T;
      const long m = n_in - s < T ? n_in - s : T;
      std::fill(tm.begin(), tm.end(), 0);
      for (int b = 0; b < B; ++b) {
        float* row = pack + (long)b * T;
        const float* src = a + (long)b * n_in;
        bool any = false;
        for (long t = 0; t < m; ++t) { row[t] = src[perm[s + t]]; any |= row[t] != 0.0f; }
        for (long t = m; t < T; ++t) row[t] = 0.0f;
        if (any) tm[b / 64] |= 1ull << (b % 64);
      }
      for (long o = 0; o < n_out; ++o) {
        const float* d = p.dt + o * B;
        if (p.np[o] >= K && p.nn[o] >= K) {
          tile_split_sparse<K, 2>(pack, T, d, pos.data() + o * nw, neg.data() + o * nw, nz.data() + o * nw,
                                  tm.data(), nw, B, res);
        } else if (K <= 4) {
          tile_full<K, 2, true>(pack, T, d, B, res);
        } else {  // both lists of two vectors would not fit in registers
          tile_full<K, 1, true>(pack, T, d, B, res);
          tile_full<K, 1, true>(pack + W, T, d, B, res + W);
        }
        for (long t = 0; t < m; ++t) out[o * n_in + perm[s + t]] = res[t];
      }
    }
    std::free(pack);
    return 0;
  });
}

template <int K>
static int outer_k(const float* dz, const float* a, int B, long n_out, long n_in, float* out, int nthreads) {
  constexpr int T = 2 * W;  // two vectors of columns per tile
  OuterPlan p;
  if (!plan_outer(dz, B, n_out, p)) return 1;
  const bool nonneg = all_finite_nonneg(a, (long)B * n_in);
  if (nonneg && mostly_zero(a, (long)B * n_in) && all_finite(dz, (long)B * n_out))
    return outer_sparse<K>(a, B, n_out, n_in, out, nthreads, p);
  const long nblocks = (n_in + T - 1) / T;
  return parallel_for(nblocks, nthreads, [&](long b0, long b1) {
    float* pack = (float*)std::malloc(sizeof(float) * (size_t)B * T);
    if (!pack) return 1;
    float res[T];
    for (long blk = b0; blk < b1; ++blk) {
      const long s = blk * T;
      const long m = n_in - s < T ? n_in - s : T;
      pack_cols(a, B, n_in, s, T, pack);
      for (long o = 0; o < n_out; ++o) {
        float* dst = m == T ? out + o * n_in + s : res;
        const float* d = p.dt + o * B;
        if (nonneg && p.np[o] >= K && p.nn[o] >= K) {
          tile_split<K, 2>(pack, T, d, p.pidx + o * B, p.np[o], p.nidx + o * B, p.nn[o], p.zidx + o * B, p.nz[o],
                           B, dst);
        } else if (K <= 4) {
          tile_full<K, 2, true>(pack, T, d, B, dst);
        } else {  // both lists of two vectors would not fit in registers
          tile_full<K, 1, true>(pack, T, d, B, dst);
          tile_full<K, 1, true>(pack + W, T, d, B, dst + W);
        }
        if (m < T) std::memcpy(out + o * n_in + s, res, sizeof(float) * m);
      }
    }
    std::free(pack);
    return 0;
  });
}

static int outer_generic(int K, const float* dz, const float* a, int B, long n_out, long n_in, float* out) {
  OuterPlan p;
  float* pack = (float*)std::malloc(sizeof(float) * (size_t)B * W);
  if (!pack || !plan_outer(dz, B, n_out, p)) { std::free(pack); return 1; }
  float res[W];
  for (long s = 0; s < n_in; s += W) {
    const long m = n_in - s < W ? n_in - s : W;
    pack_cols(a, B, n_in, s, W, pack);
    for (long o = 0; o < n_out; ++o) {
      tile_generic<true>(K, pack, W, p.dt + o * B, B, res);
      std::memcpy(out + o * n_in + s, res, sizeof(float) * m);
    }
  }
  std::free(pack);
  return 0;
}

#define CASES(F) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9) F(10)

extern "C" {

int cgh_vector_width(void) { return W; }

// x: [B, w] row-major; out[i] = winsorized mean of column i, on up to nthreads threads. 0 on success.
int cgh_winsor_rows(const float* x, int B, long w, int c, float* out, int nthreads) {
  switch (c + 1) {
#define CASE(k) case k: return rows_k<k>(x, B, w, out, nthreads);
    CASES(CASE)
#undef CASE
    default: return rows_generic(c + 1, x, B, w, out);
  }
}

// dz: [B, n_out], a: [B, n_in] row-major; out: [n_out, n_in] with
// out[o, i] = winsorized mean over b of dz[b, o] * a[b, i]. 0 on success.
int cgh_winsor_outer(const float* dz, const float* a, int B, long n_out, long n_in, int c, float* out,
                     int nthreads) {
  switch (c + 1) {
#define CASE(k) case k: return outer_k<k>(dz, a, B, n_out, n_in, out, nthreads);
    CASES(CASE)
#undef CASE
    default: return outer_generic(c + 1, dz, a, B, n_out, n_in, out);
  }
}

}  // extern "C"
"""

_FLAGS_BASE = ["-O3", "-std=c++17", "-shared", "-fPIC", "-pthread", "-fno-fast-math", "-ffp-contract=off"]
_lock = threading.Lock()
_state: dict[str, object] = {}


def _cache_dir() -> Path:
    root = os.environ.get("CGH_NATIVE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cgh", "native")
    return Path(root)


def _cpu_id() -> str:
    """What -march=native depends on: the machine and, on Linux, the CPU flags."""
    ident = platform.machine() + platform.system()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features", "model name")):
                    ident += line
                    if line.startswith(("flags", "Features")):
                        break
    except OSError:
        pass
    return ident


def _compiler() -> str | None:
    for cc in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if cc and shutil.which(cc):
            return cc
    return None


def _build() -> ctypes.CDLL:
    cc = _compiler()
    if cc is None:
        raise RuntimeError("no C++ compiler found (set $CXX, or install g++/clang++)")
    key = hashlib.sha256((_SOURCE + cc + " ".join(_FLAGS_BASE) + _cpu_id()).encode()).hexdigest()[:16]
    out = _cache_dir() / f"winsor-{key}.so"
    try:
        return _open(out)
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as e:  # damaged (truncated, altered, foreign): rebuild it once, and say so
        print(f"cgh: the cached native winsorization kernel {out} is damaged ({e}); rebuilding it",
              file=sys.stderr, flush=True)
        out.unlink(missing_ok=True)
        _digest_path(out).unlink(missing_ok=True)
    _compile(cc, out)
    return _open(out)


def _digest_path(so: Path) -> Path:
    return so.with_name(so.name + ".sha256")


def _open(out: Path) -> ctypes.CDLL:
    """Load a cached build after checking it against the SHA-256 written when it was built."""
    data = out.read_bytes()
    try:
        want = _digest_path(out).read_text().strip()
    except FileNotFoundError:  # built by code before digests: adopt it if it loads (else it is rebuilt)
        lib = _bind(ctypes.CDLL(str(out)))
        _digest_path(out).write_text(hashlib.sha256(data).hexdigest() + "\n")
        return lib
    if hashlib.sha256(data).hexdigest() != want:
        raise ValueError("checksum mismatch")
    return _bind(ctypes.CDLL(str(out)))


def _compile(cc: str, out: Path) -> None:
    """Compile into the cache: the library and, beside it, its SHA-256 (checked on every load)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        src = Path(tmp) / "winsor.cpp"
        src.write_text(_SOURCE)
        so = Path(tmp) / "winsor.so"
        errors = []
        # -march=native where the compiler knows it (AVX-512/AVX2/NEON), else portable code.
        for arch in (["-march=native"], ["-mcpu=native"], []):
            cmd = [cc, *_FLAGS_BASE, *arch, str(src), "-o", str(so)]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            if r.returncode == 0:
                break
            errors.append(f"{' '.join(cmd)}: {r.stderr.strip()[-400:]}")
        else:
            raise RuntimeError("could not compile the native winsorization kernel:\n" + "\n".join(errors))
        digest = Path(tmp) / "winsor.so.sha256"
        digest.write_text(hashlib.sha256(so.read_bytes()).hexdigest() + "\n")
        # each rename is atomic; a reader racing two builders may pair one's digest with the other's
        # library, and then rebuilds once (saying so)
        os.replace(digest, _digest_path(out))
        os.replace(so, out)


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    lib.cgh_winsor_rows.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_int, ctypes.c_void_p,
                                    ctypes.c_int]
    lib.cgh_winsor_outer.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_long,
                                     ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    lib.cgh_winsor_rows.restype = lib.cgh_winsor_outer.restype = lib.cgh_vector_width.restype = ctypes.c_int
    return lib


def load() -> ctypes.CDLL | None:
    """The compiled library, building it on first use; None (after one warning) if it cannot be built.

    Set CGH_NATIVE_CACHE to move the cache (default ~/.cache/cgh/native).
    """
    with _lock:
        if "lib" not in _state:
            try:
                _state["lib"] = _build()
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                _state["lib"] = None
                _state["error"] = str(e)
                warnings.warn(f"native winsorization kernel unavailable, using the eager one: {e}",
                              RuntimeWarning, stacklevel=3)
        return _state["lib"]  # type: ignore[return-value]


def available() -> bool:
    return load() is not None


def build_error() -> str | None:
    """Why the library could not be built (None if it was, or was not tried)."""
    return _state.get("error")  # type: ignore[return-value]


def vector_width() -> int:
    """Floats per SIMD vector the library was compiled for (16 with AVX-512)."""
    lib = load()
    return lib.cgh_vector_width() if lib is not None else 0


def supports(t: Tensor) -> bool:
    return t.device.type == "cpu" and t.dtype == torch.float32


# Below this many per-example values a call stays on one thread (starting threads costs ~50 us).
_MIN_PARALLEL = 1 << 20


def _threads(work: int, threads: int | None) -> int:
    if threads is not None:
        return max(1, threads)
    return torch.get_num_threads() if work >= _MIN_PARALLEL else 1


def winsor_rows(x: Tensor, c: int, threads: int | None = None) -> Tensor:
    """Winsorized mean over dim 0 of x [B, w] (CPU float32), bit-equal to the reference.

    ``threads``: default torch's thread count for large inputs; results do not depend on it.
    """
    lib = load()
    if lib is None:
        raise RuntimeError(build_error() or "native kernel unavailable")
    x = x.contiguous()
    b, w = x.shape
    out = torch.empty(w, dtype=torch.float32)
    if w and lib.cgh_winsor_rows(x.data_ptr(), b, w, c, out.data_ptr(), _threads(b * w, threads)):
        raise MemoryError("native winsorization: allocation failed")
    return out


def winsor_outer(dz: Tensor, a: Tensor, c: int, threads: int | None = None) -> Tensor:
    """[out, in] winsorized mean over b of the outer products dz[b, :, None] * a[b, None, :]."""
    lib = load()
    if lib is None:
        raise RuntimeError(build_error() or "native kernel unavailable")
    dz, a = dz.contiguous(), a.contiguous()
    b, n_out = dz.shape
    n_in = a.shape[1]
    out = torch.empty(n_out, n_in, dtype=torch.float32)
    if out.numel() and lib.cgh_winsor_outer(dz.data_ptr(), a.data_ptr(), b, n_out, n_in, c, out.data_ptr(),
                                            _threads(b * n_out * n_in, threads)):
        raise MemoryError("native winsorization: allocation failed")
    return out
