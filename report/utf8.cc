#include "report/utf8.h"

namespace mxcensus::report {

size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto b = static_cast<unsigned char>(text[i]);
  size_t n = 0;
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0 && b >= 0xC2) {
    n = 2;
  } else if ((b & 0xF0) == 0xE0) {
    n = 3;
  } else if ((b & 0xF8) == 0xF0 && b <= 0xF4) {
    n = 4;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return 0;
  }
  return n;
}

bool IsControl(std::string_view text, size_t i, size_t n) {
  const auto b = static_cast<unsigned char>(text[i]);
  if (n == 1) return b < 0x20 || b == 0x7F;
  return n == 2 && b == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0;
}

}  // namespace mxcensus::report
