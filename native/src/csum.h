// The Internet checksum's folded sum, shared by checksumSum (csum.cc) and the segmentation (segment.cc).
#pragma once
#include <stddef.h>
#include <stdint.h>

// Folded big-endian 16-bit ones' complement sum of p[0, n); an odd last byte is padded with zero.
uint32_t FoldedSum(const uint8_t* p, size_t n);
