#pragma once
// CPU time of another process (a PostgreSQL backend, a DNS server) for the benchmarks' "per CPU
// second" figures, which stay meaningful on a machine shared with other work.
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace mxcensus::bench {

// utime + stime of process `pid` in seconds (fields 14 and 15 of /proc/PID/stat), or -1 when
// /proc does not show it (no such process, a remote server).
inline double ProcessCpuSeconds(long pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(f, stat)) return -1;
  const size_t close = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos || close + 2 > stat.size()) return -1;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  double utime = -1, stime = -1;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  if (utime < 0 || stime < 0) return -1;
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace mxcensus::bench
