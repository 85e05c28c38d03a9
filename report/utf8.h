#pragma once

#include <cstddef>
#include <string_view>

namespace mxcensus::report {

// Length of the UTF-8 sequence starting at text[i] (1..4), or 0 when the bytes there are not
// valid UTF-8 (stray continuation, overlong lead, truncated sequence). REQUIRES: i < size.
size_t Utf8SequenceLength(std::string_view text, size_t i);

// True when the sequence of length n at text[i] is a control character: C0, DEL or C1
// (U+0080..U+009F), any of which could drive a terminal.
bool IsControl(std::string_view text, size_t i, size_t n);

}  // namespace mxcensus::report
