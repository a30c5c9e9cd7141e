-- Atomic dedup check-and-insert (workers/adapters/dedup_index.py loads it with SCRIPT LOAD).
--
-- One call decides one article's verdict and records it, so no other worker can slip a copy in
-- between the check and the insert. Keys all carry the same hash tag ({dedup}) and are built from
-- the prefix for candidate records, which Redis Cluster allows because they hash to one slot.
--
-- KEYS[1] article id -> seq       KEYS[2] url -> seq of the latest version at that URL
-- KEYS[3] exact hash -> seq       KEYS[4] the seq counter
-- KEYS[5..] the LSH band hashes (field: band key, value: seq), newest time bucket first
-- ARGV: base, article_id, exact, shingles, number_count, signature, numbers, window_seconds,
--       jaccard, containment, numbers_min, numbers_containment, num_perm, numbers_kept,
--       the newest bucket's expiry (unix ms), then the article's band keys
-- A record (key base .. "n:" .. seq) is a msgpack array:
--   {id, cluster, duplicate_of, level, similarity, version_of, exact, shingles, number_count,
--    signature, numbers}   (false where a field is absent)
-- Returns {is_duplicate (0/1), cluster, duplicate_of, level, similarity, version_of} ("" = none).

local base = ARGV[1]
local article_id = ARGV[2]
local exact = ARGV[3]
local shingles = tonumber(ARGV[4])
local number_count = tonumber(ARGV[5])
local signature = ARGV[6]
local numbers = ARGV[7]
local window = tonumber(ARGV[8])
local min_jaccard = tonumber(ARGV[9])
local min_containment = tonumber(ARGV[10])
local numbers_min = tonumber(ARGV[11])
local numbers_containment = tonumber(ARGV[12])
local num_perm = tonumber(ARGV[13])
local numbers_kept = tonumber(ARGV[14])
local bucket_expires_at = ARGV[15]
local bands = {}
for i = 16, #ARGV do
    bands[#bands + 1] = ARGV[i]
end

local function load_record(seq)
    if not seq then
        return nil
    end
    local raw = redis.call("GET", base .. "n:" .. seq)
    if not raw then
        return nil
    end
    return cmsgpack.unpack(raw)
end

local function reply(rec)
    local function s(v)
        if v then
            return tostring(v)
        end
        return ""
    end
    local is_dup = 0
    if rec[3] then
        is_dup = 1
    end
    return {is_dup, rec[2], s(rec[3]), s(rec[4]), s(rec[5]), s(rec[6])}
end

-- The article's, its URL's and its text's pointers in one read (one slot: MGET is allowed).
local pointers = redis.call("MGET", KEYS[1], KEYS[2], KEYS[3])

-- Redelivery: an article already checked gets the verdict it got the first time.
local own = load_record(pointers[1])
if own and own[1] == article_id then
    return reply(own)
end

local function first_seen(rec)
    -- A duplicate points at the original it copies, never at another copy.
    return rec[3] or rec[1]
end

local function containment_from_jaccard(j, a, b)
    local smaller = math.min(a, b)
    if smaller <= 0 then
        return 0
    end
    return math.min(1, j / (1 + j) * (a + b) / smaller)
end

local function number_set(packed)
    local set, list = {}, {}
    for i = 1, #packed, 4 do
        local v = struct.unpack("<I4", packed, i)
        set[v] = true
        list[#list + 1] = v
    end
    return set, list
end

local our_numbers, our_number_list = number_set(numbers)
local kept = #our_number_list

-- Mirrors workers.stages.dedup.numbers_contained.
local function numbers_ok(rec)
    if math.min(number_count, rec[9]) < numbers_min then
        return true
    end
    local other, other_list = number_set(rec[11])
    local shared = 0
    for _, v in ipairs(other_list) do
        if our_numbers[v] then
            shared = shared + 1
        end
    end
    local share
    if number_count <= numbers_kept and rec[9] <= numbers_kept then
        share = shared / math.min(kept, #other_list)
    else
        local union = {}
        for _, v in ipairs(our_number_list) do
            union[#union + 1] = v
        end
        for _, v in ipairs(other_list) do
            if not our_numbers[v] then
                union[#union + 1] = v
            end
        end
        table.sort(union)
        local k = math.min(numbers_kept, #union)
        local both = 0
        for i = 1, k do
            if our_numbers[union[i]] and other[union[i]] then
                both = both + 1
            end
        end
        share = containment_from_jaccard(both / k, number_count, rec[9])
    end
    return share >= numbers_containment
end

-- Our slots as bytes, unpacked once (one C call) rather than per candidate.
local ours = {}
if signature ~= "" then
    ours = {string.byte(signature, 1, -1)}
end

-- Mirrors workers.stages.dedup.near_duplicate_score.
local function near_score(rec)
    local theirs_raw = rec[10]
    if not theirs_raw or #theirs_raw ~= #signature then
        return nil
    end
    local theirs = {string.byte(theirs_raw, 1, -1)}
    local equal = 0
    for i = 1, 2 * num_perm, 2 do
        if ours[i] == theirs[i] and ours[i + 1] == theirs[i + 1] then
            equal = equal + 1
        end
    end
    local j = equal / num_perm
    local c = containment_from_jaccard(j, shingles, rec[8])
    if j < min_jaccard and c < min_containment then
        return nil
    end
    if not numbers_ok(rec) then
        return nil
    end
    return math.max(j, c)
end

-- rec fields for the new article: {id, cluster, duplicate_of, level, similarity, version_of}
local cluster, duplicate_of, level, similarity, version_of = article_id, false, false, false, false

-- 1. URL: the same text again is a duplicate; changed text is a new version of the same story.
local at_url = load_record(pointers[2])
if at_url then
    cluster = at_url[2]
    if at_url[7] == exact then
        duplicate_of, level = first_seen(at_url), "url"
    else
        version_of = at_url[1]
    end
end

-- 2. Exact normalised text (a new version of a URL is decided already: it is not a copy).
if not at_url then
    local same = load_record(pointers[3])
    if same then
        cluster, duplicate_of, level, version_of = same[2], first_seen(same), "exact", false
    end
end

-- 3. Near duplicate: candidates from the LSH bands of every live time bucket (one HMGET each),
--    verified on the full signature. A candidate whose record expired is out of the window.
local newest_hits = nil
if not at_url and not duplicate_of and signature ~= "" and #bands > 0 then
    local seen = {}
    local best, best_score = nil, -1
    for k = 5, #KEYS do
        local hits = redis.call("HMGET", KEYS[k], unpack(bands))
        if k == 5 then
            newest_hits = hits
        end
        for i = 1, #bands do
            local seq = hits[i]
            if seq and not seen[seq] then
                seen[seq] = true
                local rec = load_record(seq)
                if rec then
                    local score = near_score(rec)
                    if score and score > best_score then
                        best, best_score = rec, score
                    end
                end
            end
        end
    end
    if best then
        cluster, duplicate_of, level, version_of = best[2], first_seen(best), "near", false
        similarity = string.format("%.4f", best_score)
    end
end

-- Record the article; every key but the counter expires with the window, so memory stays
-- bounded.
-- The counter itself never expires: one key, and records numbered on from where it stands
-- never collide with live ones (an EXPIRE here cost a command per article).
local seq = redis.call("INCR", KEYS[4])
local rec = {article_id, cluster, duplicate_of, level, similarity, version_of, exact, shingles,
             number_count, signature, numbers}
redis.call("SET", base .. "n:" .. seq, cmsgpack.pack(rec), "EX", window)
redis.call("SET", KEYS[1], seq, "EX", window)
if level ~= "url" then
    redis.call("SET", KEYS[2], seq, "EX", window)  -- the URL now points at its latest version
end
redis.call("SET", KEYS[3], seq, "NX", "EX", window)  -- the first-seen text stays the target
-- Bands go into the newest bucket where it has none yet (the first-seen stays the target).
if #bands > 0 then
    if not newest_hits then
        newest_hits = redis.call("HMGET", KEYS[5], unpack(bands))
    end
    local fields = {}
    for i = 1, #bands do
        if not newest_hits[i] then
            fields[#fields + 1] = bands[i]
            fields[#fields + 1] = seq
        end
    end
    if #fields > 0 then
        redis.call("HSET", KEYS[5], unpack(fields))
        redis.call("PEXPIREAT", KEYS[5], bucket_expires_at)
    end
end
return reply(rec)
