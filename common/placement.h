// Placement: which peers hold a bolt's stream. Each (origin, bolt) goes to the `replicas`
// members, other than the origin, of highest weight XXH3(origin, bolt, member): rendezvous
// (highest-random-weight) hashing. Every agent and the coordinator place a stream the same way
// from the same membership, with nothing to exchange, and a member that joins or leaves moves
// only the streams it gains or held: about replicas/members of them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tailsafe {

// `[cluster] replicas` absent: every member but the origin holds every stream.
constexpr uint32_t kEveryPeer = 0;
// The most `[cluster] replicas` may say.
constexpr uint32_t kMaxReplicas = 1000;

// The weight of `member` for the stream of `bolt` on `origin`. The three names are joined with
// a NUL, which a valid name never holds, so no two triples hash the same input.
uint64_t PlacementWeight(std::string_view origin, std::string_view bolt, std::string_view member);

// The holders of (origin, bolt) among `members`, highest weight first (ties by name): the origin
// is never one, nor a name given twice; every other member with kEveryPeer or when there are no
// more than `replicas` of them.
std::vector<std::string> PlaceStream(std::string_view origin, std::string_view bolt,
                                     const std::vector<std::string>& members, uint32_t replicas);

// Whether `member` is among PlaceStream(origin, bolt, members, replicas).
bool HoldsStream(std::string_view member, std::string_view origin, std::string_view bolt,
                 const std::vector<std::string>& members, uint32_t replicas);

}  // namespace tailsafe
