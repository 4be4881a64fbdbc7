-- Argo CD health check for finetune.dev/FineTuneJob (a batch job, so "Healthy" means done).
-- Install it under the argocd-cm key resource.customizations.health.finetune.dev_FineTuneJob
-- (see docs/gitops.md). Tested by tests/unit/test_argocd_health.py.
--   Succeeded              -> Healthy
--   Failed, Cancelled      -> Degraded (ended without an output; a new job is needed)
--   Suspended              -> Suspended (runPolicy.suspend is true)
--   anything else, or none -> Progressing (Validating, Queued, Running, not yet seen)
-- A status written for an older generation is Progressing until the operator has seen the new
-- one, like Argo CD's own checks.
local hs = { status = "Progressing", message = "Waiting for the operator" }
if obj.status == nil or obj.status.phase == nil then
  return hs
end

local function condition_message(type_name)
  if obj.status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == type_name and condition.message ~= nil and condition.message ~= "" then
      return condition.message
    end
  end
  return nil
end

local phase = obj.status.phase
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
local detail = condition_message("Ready")

if generation ~= nil and observed ~= nil and observed < generation then
  hs.message = "Waiting for the operator to observe generation " .. generation
elseif phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = detail or "Succeeded"
elseif phase == "Failed" or phase == "Cancelled" then
  hs.status = "Degraded"
  hs.message = phase .. ": " .. (detail or "see status.conditions")
elseif phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = detail or "runPolicy.suspend is true"
else
  hs.message = phase .. ": " .. (detail or "in progress")
end
return hs
