#pragma once

#include <string>

#include "x509/ossl_ptr.h"
#include "x509/x509.h"

namespace mxcensus::lab {

// The owning pointers and OpenSSL error text live in x509/ (shared with `certs init`).
using mxcensus::FnDeleter;
using x509::BioPtr;
using x509::EvpPkeyCtxPtr;
using x509::EvpPkeyPtr;
using x509::OpenSslErrors;
using x509::SslCtxPtr;
using x509::SslPtr;
using x509::X509Ptr;
using x509::X509StoreCtxPtr;
using x509::X509StorePtr;

}  // namespace mxcensus::lab
