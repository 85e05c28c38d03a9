#include "worker/net/host_name.h"

#include <netdb.h>
#include <unistd.h>

#include <cstring>

namespace mxcensus::net {

std::string DefaultEhloName() {
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "localhost";
  std::string name = host;
  addrinfo hints;
  std::memset(&hints, 0, sizeof hints);
  hints.ai_flags = AI_CANONNAME;
  hints.ai_family = AF_UNSPEC;
  addrinfo* res = nullptr;
  if (getaddrinfo(host, nullptr, &hints, &res) == 0 && res) {
    if (res->ai_canonname && std::strchr(res->ai_canonname, '.')) name = res->ai_canonname;
    freeaddrinfo(res);
  }
  return name;
}

}  // namespace mxcensus::net
