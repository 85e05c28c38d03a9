// The report renderers on hand-built tables: terminal alignment, CSV quoting, JSON shape,
// HTML escaping of hostile strings from the database, and the numbers in the SVG charts.
#include "report/render.h"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "nlohmann/json.hpp"
#include "report/render_csv.h"
#include "report/render_html.h"
#include "report/render_json.h"
#include "report/render_text.h"
#include "report/svg.h"

namespace mxcensus::report {
namespace {

Table Funnel() {
  Table t;
  t.id = "funnel";
  t.title = "Funnel";
  t.Add("stage", "stage").Add("domains", "domains", ColumnKind::kInteger);
  t.Add("domains_pct", "%", ColumnKind::kPercent);
  t.rows = {{std::string("input domains"), int64_t{1200}, 100.0},
            {std::string("has MX"), int64_t{980}, 81.66666},
            {std::string("handshake ok"), int64_t{7}, 0.58}};
  t.chart = {ChartKind::kBars, 0, {2}, "%"};
  return t;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(ReportCellTest, PercentHasOneDecimalAndSign) {
  EXPECT_EQ(FormatCell(81.66666, ColumnKind::kPercent), "81.7%");
  EXPECT_EQ(FormatCell(-0.01, ColumnKind::kPercent), "0.0%");
  EXPECT_EQ(FormatCellPlain(81.66666, ColumnKind::kPercent), "81.7");
  EXPECT_EQ(FormatCell(Cell{}, ColumnKind::kPercent), "");
  EXPECT_EQ(FormatCell(int64_t{42}, ColumnKind::kInteger), "42");
  EXPECT_EQ(FormatCell(2.0, ColumnKind::kInteger), "2");
}

TEST(ReportTextTest, NumbersRightAlignedTextLeftAligned) {
  const auto lines = Lines(RenderTextTable(Funnel()));
  // title, '=' rule, header, dashes, 3 rows
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[0], "Funnel");
  EXPECT_EQ(lines[1], "======");
  EXPECT_EQ(lines[2], "stage          domains       %");
  EXPECT_EQ(lines[3], "-------------  -------  ------");
  EXPECT_EQ(lines[4], "input domains     1200  100.0%");
  EXPECT_EQ(lines[5], "has MX             980   81.7%");
  EXPECT_EQ(lines[6], "handshake ok         7    0.6%");
}

TEST(ReportTextTest, WidthCountsCharactersNotBytes) {
  Table t;
  t.title = "t";
  t.Add("a", "a").Add("n", "n", ColumnKind::kInteger);
  t.rows = {{std::string("\xc3\xa9t\xc3\xa9"), int64_t{1}}, {std::string("abcd"), int64_t{22}}};
  const auto lines = Lines(RenderTextTable(t));
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[4], "\xc3\xa9t\xc3\xa9    1");
  EXPECT_EQ(lines[5], "abcd  22");
}

TEST(ReportTextTest, ControlCharactersAndLongCellsAreDefused) {
  Table t;
  t.title = "greetings";
  t.Add("g", "greeting");
  t.rows = {{std::string("220 \x1b[2Jclear\r\nme \xc2\x9b"
                         "31m \xff")},
            {std::string(100, 'x')}};
  const std::string out = RenderTextTable(t, TextOptions{30});
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(out.find("\xc2\x9b"), std::string::npos);
  EXPECT_NE(out.find("220 ?[2Jclear??me ?"), std::string::npos) << out;
  EXPECT_NE(out.find(std::string(27, 'x') + "...\n"), std::string::npos) << out;
  EXPECT_EQ(SanitizeForTerminal("ok \xe2\x82\xac", 0), "ok \xe2\x82\xac");
}

TEST(ReportTextTest, LongNotesWrapAtWordsWithin100Columns) {
  Table t = Funnel();
  t.note.clear();
  for (int i = 0; i < 40; ++i) t.note += "word" + std::to_string(i) + " ";
  const auto lines = Lines(RenderTextTable(t));
  std::string joined;
  size_t i = 2;
  for (; lines[i].rfind("stage", 0) != 0; ++i) {
    EXPECT_LE(lines[i].size(), 100u) << lines[i];
    joined += lines[i] + " ";
  }
  EXPECT_GT(i, 3u);
  EXPECT_EQ(joined, t.note);
}

TEST(ReportTextTest, EmptyTableSaysSo) {
  Table t = Funnel();
  t.rows.clear();
  EXPECT_NE(RenderTextTable(t).find("(no rows)"), std::string::npos);
}

TEST(ReportMarkdownTest, PipesEscapedNumbersRightAligned) {
  Table t = Funnel();
  t.rows.push_back({std::string("a|b <i>"), int64_t{1}, 1.0});
  const auto lines = Lines(RenderMarkdownTable(t));
  EXPECT_EQ(lines[0], "## Funnel");
  EXPECT_EQ(lines[2], "| stage | domains | % |");
  EXPECT_EQ(lines[3], "| --- | --: | --: |");
  EXPECT_EQ(lines[4], "| input domains | 1200 | 100.0% |");
  EXPECT_EQ(lines.back(), "| a\\|b &lt;i&gt; | 1 | 1.0% |");
}

TEST(ReportCsvTest, QuotingFollowsRfc4180) {
  EXPECT_EQ(CsvField("plain", true), "plain");
  EXPECT_EQ(CsvField("a,b", true), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\"", true), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\r\nlines", true), "\"two\r\nlines\"");
  EXPECT_EQ(CsvField(" edge", true), "\" edge\"");
  EXPECT_EQ(CsvField("", true), "");
}

TEST(ReportCsvTest, FormulasFromTheDataAreNeutralised) {
  EXPECT_EQ(CsvField("=HYPERLINK(\"x\")", true), "\"'=HYPERLINK(\"\"x\"\")\"");
  EXPECT_EQ(CsvField("@SUM(A1)", true), "'@SUM(A1)");
  EXPECT_EQ(CsvField("-5", false), "-5");  // numbers are numbers
}

TEST(ReportCsvTest, HeaderIsKeysRowsArePlainNumbers) {
  EXPECT_EQ(RenderCsvTable(Funnel()),
            "stage,domains,domains_pct\r\n"
            "input domains,1200,100.0\r\n"
            "has MX,980,81.7\r\n"
            "handshake ok,7,0.6\r\n");
  Report r;
  r.tables = {Funnel(), Funnel()};
  r.tables[1].id = "again";
  const std::string all = RenderCsv(r);
  EXPECT_EQ(all.rfind("# funnel: Funnel\r\nstage,", 0), 0u);
  EXPECT_NE(all.find("\r\n\r\n# again: Funnel\r\nstage,"), std::string::npos);
}

TEST(ReportJsonTest, StableKeysAndTypedValues) {
  Report r;
  r.title = "mxcensus report";
  r.facts = {{"crawl_id", int64_t{3}}, {"crawl_name", std::string("weekly")}};
  Table t = Funnel();
  t.rows.push_back({Cell{}, int64_t{0}, std::nan("")});
  r.tables = {t};
  const auto j = nlohmann::json::parse(RenderJson(r));
  EXPECT_EQ(j["facts"]["crawl_id"], 3);
  EXPECT_EQ(j["facts"]["crawl_name"], "weekly");
  const auto& f = j["tables"]["funnel"];
  EXPECT_EQ(f["columns"][2]["key"], "domains_pct");
  EXPECT_EQ(f["columns"][2]["type"], "percent");
  EXPECT_EQ(f["rows"][1]["domains"], 980);
  EXPECT_DOUBLE_EQ(f["rows"][1]["domains_pct"].get<double>(), 81.66666);
  EXPECT_TRUE(f["rows"][3]["stage"].is_null());
  EXPECT_TRUE(f["rows"][3]["domains_pct"].is_null());  // NaN is not JSON
}

TEST(ReportJsonTest, InvalidUtf8FromTheDatabaseDoesNotThrow) {
  Report r;
  Table t;
  t.id = "g";
  t.Add("greeting", "greeting");
  t.rows = {{std::string("220 \xff\xfe mail")}};
  r.tables = {t};
  std::string out;
  ASSERT_NO_THROW(out = RenderJson(r));
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["tables"]["g"]["rows"][0]["greeting"], "220 \xef\xbf\xbd\xef\xbf\xbd mail");
}

TEST(ReportHtmlTest, HostileStringsAreEscapedEverywhere) {
  const std::string evil = "<script>alert(1)</script>\"'&<img src=x onerror=alert(2)>";
  Report r;
  r.title = evil;
  r.facts = {{evil, std::string(evil)}};
  Table t = Funnel();
  t.id = "funnel";
  t.title = evil;
  t.note = evil;
  t.columns[0].title = evil;
  t.rows.push_back({std::string(evil), int64_t{5}, 50.0});
  r.tables = {t};
  const std::string html = RenderHtml(r);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("onerror=alert"), html.find("onerror=alert"));  // only inside text
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;&lt;img"),
            std::string::npos);
  // The label also lands in the SVG chart, escaped there too.
  const std::string svg = ChartSvg(t);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_NE(svg.find("&lt;script&gt;"), std::string::npos);
}

TEST(ReportHtmlTest, SelfContainedNoExternalReferences) {
  Report r;
  r.title = "t";
  r.tables = {Funnel()};
  const std::string html = RenderHtml(r);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">81.7%</td>"), std::string::npos);
}

TEST(ReportHtmlTest, ControlAndInvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(HtmlEscape("a\x01"
                       "b\xff"
                       "c\xc3\xa9"),
            "a\xef\xbf\xbd"
            "b\xef\xbf\xbd"
            "c\xc3\xa9");
}

std::vector<double> Widths(const std::string& svg) {
  std::vector<double> out;
  std::regex re("<rect class=\"bar\"[^>]* width=\"([0-9.]+)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator();
       ++it) {
    out.push_back(std::stod((*it)[1]));
  }
  return out;
}

TEST(ReportSvgTest, BarWidthsAreProportionalToValues) {
  const auto w = Widths(BarChartSvg({{"a", 100}, {"b", 50}, {"c", 0}, {"d", 25}}, 100, "%", "t"));
  ASSERT_EQ(w.size(), 4u);
  EXPECT_GT(w[0], 100);
  EXPECT_NEAR(w[1], w[0] / 2, 0.01);
  EXPECT_EQ(w[2], 0);
  EXPECT_NEAR(w[3], w[0] / 4, 0.01);
  // Scale to the largest value when no maximum is given.
  const auto v = Widths(BarChartSvg({{"a", 10}, {"b", 40}}, 0, "", "t"));
  EXPECT_NEAR(v[0], v[1] / 4, 0.01);
}

TEST(ReportSvgTest, NoNanOrInfinityEverReachesTheSvg) {
  const std::string svg =
      BarChartSvg({{"a", 0}, {"b", std::nan("")}, {"c", INFINITY}}, 0, "", "t") +
      LineChartSvg({"1"}, {{"s", {std::nan("")}}}, "t") + LineChartSvg({}, {}, "t");
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  EXPECT_EQ(SvgNumber(1.0 / 3), "0.33");
  EXPECT_EQ(SvgNumber(NAN), "0.00");
}

TEST(ReportSvgTest, LinePointsFollowTheValues) {
  const std::string svg = LineChartSvg({"c1", "c2", "c3"}, {{"starttls", {0, 50, 100}}}, "t");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, std::regex("points=\"([^\"]*)\"")));
  double x[3], y[3];
  ASSERT_EQ(std::sscanf(m[1].str().c_str(), "%lf,%lf %lf,%lf %lf,%lf", &x[0], &y[0], &x[1], &y[1],
                        &x[2], &y[2]),
            6);
  EXPECT_LT(x[0], x[1]);
  EXPECT_NEAR(x[1] - x[0], x[2] - x[1], 0.01);
  EXPECT_NEAR(y[0] - y[1], y[1] - y[2], 0.01);  // equal steps of 50
  EXPECT_GT(y[0], y[2]);                        // 0% at the bottom
}

TEST(ReportWriteTest, HtmlNeedsAnOutputDirectory) {
  std::string text;
  std::vector<std::string> written;
  const auto s = WriteReport(Report{}, Format::kHtml, "", &text, &written);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--out"), std::string::npos);
  EXPECT_FALSE(ParseFormat("pdf").ok());
  EXPECT_EQ(*ParseFormat("markdown"), Format::kMarkdown);
}

}  // namespace
}  // namespace mxcensus::report
