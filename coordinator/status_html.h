// The status page's HTML, from the status document (/api/status): pure functions, so the page a
// browser without script gets, and each section the live page swaps in as events arrive, come
// from one renderer. Every state is said in words and a symbol as well as a colour; failed
// recoveries and dead agents carry the tailsafectl command that acts on them.
//
// The status document: {cluster, generated_unix_ms, coordinator: {listen, leading, term,
// leader?, page?, leader_page?, instances?: [{address, page}]}, agents: {PATH: doc}, bolts:
// {PATH: doc}, recoveries: {PATH: doc}, lag_history: {ORIGIN/BOLT: [[unix_ms, lag_bytes], ...]}},
// the documents as tailsafectl reads them live.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tailsafe {

// The sections of the page, in order; each is one <section id=...> that RenderSection replaces.
inline constexpr std::string_view kStatusSections[] = {"summary", "agents", "bolts", "recoveries"};

// The whole page: the sections as of `status`, the stylesheet and the script that keeps it live.
std::string RenderStatusPage(const nlohmann::json& status);
// One section (`id` from kStatusSections; anything else renders nothing).
std::string RenderSection(std::string_view id, const nlohmann::json& status);
// Text safe inside HTML elements and quoted attributes.
std::string HtmlEscape(std::string_view text);

}  // namespace tailsafe
