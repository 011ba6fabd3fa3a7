-- Argo CD health of a cvmfs.cern.ch Transaction (cvmfs-release-operator).
-- The status is kstatus-compatible: conditions Ready, Reconciling, Stalled (plus Published) and
-- observedGeneration; status.phase is Pending, Queued, Running, Succeeded, Failed or Cancelled.
--   Succeeded          -> Healthy      published (or already published: AlreadyPublished, Recovered)
--   Queued, Running    -> Progressing  waiting for the repository lock, or publishing
--   Pending            -> Suspended    waiting on something outside the queue (the Repository is
--                                      missing or invalid, or its Stratum 0 does not answer)
--   Failed, Cancelled  -> Degraded     will not publish; a new change is a new Transaction
-- Only Lua's base and table libraries are used: Argo CD opens no others for health checks.
local hs = {}

local function describe(status)
  local text = status.phase
  if status.reason ~= nil and status.reason ~= "" and status.reason ~= status.phase then
    text = text .. " (" .. status.reason .. ")"
  end
  if status.message ~= nil and status.message ~= "" then
    text = text .. ": " .. status.message
  end
  return text
end

if obj.status == nil or obj.status.phase == nil or obj.status.phase == "" then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to accept the Transaction"
  return hs
end

local status = obj.status
local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local phase = status.phase
if phase == "Succeeded" then
  hs.status = "Healthy"
elseif phase == "Failed" or phase == "Cancelled" then
  hs.status = "Degraded"
elseif phase == "Pending" then
  hs.status = "Suspended"
elseif phase == "Queued" or phase == "Running" then
  hs.status = "Progressing"
else
  hs.status = "Unknown"
  hs.message = "Unknown phase " .. tostring(phase)
  return hs
end
if obj.metadata.deletionTimestamp ~= nil and hs.status ~= "Healthy" and hs.status ~= "Degraded" then
  hs.status = "Progressing"
  hs.message = "Being deleted: the operator stops its publisher pod. " .. describe(status)
  return hs
end
hs.message = describe(status)
return hs
