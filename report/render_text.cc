#include "report/render_text.h"

#include <algorithm>

#include "report/utf8.h"

namespace mxcensus::report {
namespace {

constexpr size_t kNoteWidth = 100;

std::string Pad(const std::string& text, size_t width, bool right) {
  const size_t w = DisplayWidth(text);
  if (w >= width) return text;
  const std::string fill(width - w, ' ');
  return right ? fill + text : text + fill;
}

std::string MarkdownEscape(std::string_view text) {
  std::string out;
  for (char c : SanitizeForTerminal(text, 0)) {
    switch (c) {
      case '|':
        out += "\\|";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '\\':
      case '`':
      case '*':
        out += '\\';
        out += c;
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Breaks text into lines of at most `width` characters at spaces (a longer word stays whole).
std::string Wrap(const std::string& text, size_t width) {
  std::string out, line;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(start, end - start);
    if (!line.empty() && DisplayWidth(line) + 1 + DisplayWidth(word) > width) {
      out += line + "\n";
      line.clear();
    }
    if (!word.empty()) line += (line.empty() ? "" : " ") + word;
    start = end + 1;
  }
  if (!line.empty()) out += line + "\n";
  return out;
}

void AppendFacts(const Report& report, std::string* out) {
  for (const auto& [key, value] : report.facts) {
    *out += key + ": " + SanitizeForTerminal(FormatCell(value, ColumnKind::kText), 0) + "\n";
  }
}

}  // namespace

size_t DisplayWidth(std::string_view text) {
  size_t width = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t n = Utf8SequenceLength(text, i);
    i += n == 0 ? 1 : n;
    ++width;
  }
  return width;
}

std::string SanitizeForTerminal(std::string_view text, size_t max_width) {
  std::string out;
  size_t width = 0;
  const bool cut = max_width > 0 && DisplayWidth(text) > max_width;
  const size_t keep = cut ? (max_width > 3 ? max_width - 3 : max_width) : text.size();
  for (size_t i = 0; i < text.size() && width < keep; ++width) {
    const size_t n = Utf8SequenceLength(text, i);
    if (n == 0 || IsControl(text, i, n)) {
      out += '?';
      i += n == 0 ? 1 : n;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  if (cut && max_width > 3) out += "...";
  return out;
}

std::string RenderTextTable(const Table& table, const TextOptions& options) {
  const size_t ncol = table.columns.size();
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> width(ncol, 0);
  for (size_t c = 0; c < ncol; ++c) {
    width[c] = DisplayWidth(SanitizeForTerminal(table.columns[c].title, 0));
  }
  for (const Row& row : table.rows) {
    auto& line = cells.emplace_back();
    for (size_t c = 0; c < ncol; ++c) {
      const Cell& cell = c < row.size() ? row[c] : Cell{};
      line.push_back(
          SanitizeForTerminal(FormatCell(cell, table.columns[c].kind), options.max_cell_width));
      width[c] = std::max(width[c], DisplayWidth(line.back()));
    }
  }
  std::string out = SanitizeForTerminal(table.title, 0) + "\n";
  out += std::string(DisplayWidth(out) - 1, '=') + "\n";
  if (!table.note.empty()) out += Wrap(SanitizeForTerminal(table.note, 0), kNoteWidth);
  auto emit = [&](const std::vector<std::string>& line) {
    std::string text;
    for (size_t c = 0; c < ncol; ++c) {
      if (c > 0) text += "  ";
      text += Pad(line[c], width[c], IsNumeric(table.columns[c].kind));
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  std::vector<std::string> header, rule;
  for (size_t c = 0; c < ncol; ++c) {
    header.push_back(SanitizeForTerminal(table.columns[c].title, 0));
    rule.push_back(std::string(width[c], '-'));
  }
  emit(header);
  emit(rule);
  for (const auto& line : cells) emit(line);
  if (table.rows.empty()) out += "(no rows)\n";
  return out;
}

std::string RenderText(const Report& report, const TextOptions& options) {
  std::string out = SanitizeForTerminal(report.title, 0) + "\n";
  AppendFacts(report, &out);
  for (const Table& t : report.tables) out += "\n" + RenderTextTable(t, options);
  return out;
}

std::string RenderMarkdownTable(const Table& table) {
  std::string out = "## " + MarkdownEscape(table.title) + "\n\n";
  if (!table.note.empty()) out += MarkdownEscape(table.note) + "\n\n";
  std::string header = "|", rule = "|";
  for (const Column& col : table.columns) {
    header += " " + MarkdownEscape(col.title) + " |";
    rule += IsNumeric(col.kind) ? " --: |" : " --- |";
  }
  out += header + "\n" + rule + "\n";
  for (const Row& row : table.rows) {
    std::string line = "|";
    for (size_t c = 0; c < table.columns.size(); ++c) {
      const Cell& cell = c < row.size() ? row[c] : Cell{};
      line += " " + MarkdownEscape(FormatCell(cell, table.columns[c].kind)) + " |";
    }
    out += line + "\n";
  }
  if (table.rows.empty()) out += "\n_(no rows)_\n";
  return out;
}

std::string RenderMarkdown(const Report& report) {
  std::string out = "# " + MarkdownEscape(report.title) + "\n\n";
  for (const auto& [key, value] : report.facts) {
    out += "- " + MarkdownEscape(key) + ": " +
           MarkdownEscape(FormatCell(value, ColumnKind::kText)) + "\n";
  }
  for (const Table& t : report.tables) out += "\n" + RenderMarkdownTable(t);
  return out;
}

}  // namespace mxcensus::report
