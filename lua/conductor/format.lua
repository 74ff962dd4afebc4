-- How conductor writes things for people: durations ("850ms", "2.4s", "3m07s"), and
-- workspaces ("fix-login" here, "big: fix-login" on host big; "big:fix-login" in
-- commands).

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

--- A workspace as messages and lists name it: its name, after its host's when it is on
--- another machine ("big: fix-login", as the picker, statusline and tabs show it).
---@param ws { name: string, host?: string }
---@return string
function M.workspace(ws)
  if ws.host then
    return ws.host .. ": " .. ws.name
  end
  return ws.name
end

--- A workspace as commands take it, and in buffer names: "big:fix-login" on host big.
---@param ws { name: string, host?: string }
---@return string
function M.workspace_ref(ws)
  if ws.host then
    return ws.host .. ":" .. ws.name
  end
  return ws.name
end

return M
