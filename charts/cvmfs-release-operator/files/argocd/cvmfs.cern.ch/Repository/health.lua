-- Argo CD health of a cvmfs.cern.ch Repository (cvmfs-release-operator).
-- The operator's health timer reads the repository's Stratum 0 and writes the conditions Ready,
-- Unreachable, Degraded and WhitelistExpiringSoon, with observedGeneration.
--   Ready=True                 -> Healthy (the message warns when the whitelist expires soon)
--   Ready=False                -> Degraded (unreachable, credentials refused, whitelist expired...)
--   no status yet, Ready=Unknown, generation not yet observed -> Progressing
-- Only Lua's base and table libraries are used: Argo CD opens no others for health checks.
local hs = {}

local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local ready = condition("Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the first health check of the Stratum 0"
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local message = ready.reason
if ready.message ~= nil and ready.message ~= "" then
  message = ready.reason .. ": " .. ready.message
end
if ready.status == "True" then
  hs.status = "Healthy"
  local expiring = condition("WhitelistExpiringSoon")
  if expiring ~= nil and expiring.status == "True" then
    message = message .. "; WARNING " .. expiring.message
  end
elseif ready.status == "False" then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
hs.message = message
return hs
