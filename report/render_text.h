#pragma once

#include <string>

#include "report/table.h"

namespace mxcensus::report {

// Options of the terminal renderer.
struct TextOptions {
  // Longer text cells are cut to this many characters, ending in "...", so that a hostile
  // greeting cannot stretch a table off the screen. 0 = no limit.
  size_t max_cell_width = 60;
};

// A table for a terminal: title, optional note, header, a dashed rule, then rows. Columns are
// padded to their widest cell (in characters, not bytes), numbers right-aligned. Control
// characters from the data (escape sequences in a greeting) are shown as '?'.
std::string RenderTextTable(const Table& table, const TextOptions& options = {});
// The report's title and facts, then every table, separated by blank lines.
std::string RenderText(const Report& report, const TextOptions& options = {});

// A GitHub-flavoured markdown table ('|' escaped, numbers right-aligned with "--:").
std::string RenderMarkdownTable(const Table& table);
std::string RenderMarkdown(const Report& report);

// Characters of UTF-8 text (code points; invalid bytes count one each).
size_t DisplayWidth(std::string_view text);
// Replaces control characters (C0, DEL) with '?' and cuts to `max_width` characters (0 = no
// limit), never inside a UTF-8 sequence.
std::string SanitizeForTerminal(std::string_view text, size_t max_width);

}  // namespace mxcensus::report
