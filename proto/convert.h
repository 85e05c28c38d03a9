#pragma once

#include "common/domain_result.h"
#include "common/probe_result.h"
#include "proto/mxcensus.pb.h"

namespace mxcensus {

// Wire <-> domain conversions. Lossless for every field of the domain types: a result converted
// to protobuf and back equals the original.
void ToProto(const ProbeResult& in, v1::ProbeResult* out);
// The same, moving the result's strings into the message (the worker's path: no copies).
void ToProto(ProbeResult&& in, v1::ProbeResult* out);
ProbeResult FromProto(const v1::ProbeResult& in);
// The same, moving the message's strings out.
ProbeResult FromProto(v1::ProbeResult&& in);
void ToProto(const DomainResult& in, v1::DomainResult* out);
DomainResult FromProto(const v1::DomainResult& in);

}  // namespace mxcensus
