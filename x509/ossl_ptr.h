#pragma once

// Owning pointers for OpenSSL handles, shared by everything that builds certificates or TLS
// contexts outside the worker (lab, certs).

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>

#include "common/fn_deleter.h"

namespace mxcensus::x509 {

// new/get1 results are owned, get0 results are not (STYLE.md B4).
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, FnDeleter<EVP_PKEY_free>>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, FnDeleter<EVP_PKEY_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, FnDeleter<X509_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, FnDeleter<X509_STORE_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, FnDeleter<X509_STORE_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, FnDeleter<BIO_free_all>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, FnDeleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, FnDeleter<SSL_free>>;

}  // namespace mxcensus::x509
