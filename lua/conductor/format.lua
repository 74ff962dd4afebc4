-- How conductor writes numbers for people: durations ("850ms", "2.4s", "3m07s").

local M = {}

--- A duration in milliseconds as "850ms", "2.4s" or "3m07s"; "" for nil.
---@param ms integer?
---@return string
function M.duration(ms)
  if not ms then
    return ""
  elseif ms < 1000 then
    return ("%dms"):format(ms)
  elseif ms < 60000 then
    return ("%.1fs"):format(ms / 1000)
  end
  return ("%dm%02ds"):format(math.floor(ms / 60000), math.floor(ms / 1000) % 60)
end

return M
