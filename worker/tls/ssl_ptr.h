#pragma once

// The owning OpenSSL pointers are defined once, in x509/ossl_ptr.h (shared with the lab and
// `certs init`); the worker's TLS code names them in its own namespace.
#include "x509/ossl_ptr.h"

namespace mxcensus::tls {

using mxcensus::FnDeleter;
using x509::BioPtr;
using x509::EvpPkeyPtr;
using x509::SslCtxPtr;
using x509::SslPtr;
using x509::X509Ptr;
using x509::X509StoreCtxPtr;
using x509::X509StorePtr;

}  // namespace mxcensus::tls
