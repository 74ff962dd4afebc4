-- Writes the options list of doc/conductor.txt from the schema in
-- lua/conductor/config.lua, so the help and the real defaults cannot drift.
--
--   nvim -l scripts/gen-doc-options.lua           update doc/conductor.txt
--   nvim -l scripts/gen-doc-options.lua --check   exit 1 when it is stale
--   nvim -l scripts/gen-doc-options.lua --print   print the list only
--
-- The list is the text between the line holding the tag
-- *conductor-options-list* and the next "=====" section rule.

local root = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h")
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
local config = require("conductor.config")

local WIDTH = 78
local INDENT = "    "
local doc_path = root .. "/doc/conductor.txt"

---@param text string
---@return string[]
local function wrap(text)
  local lines, line = {}, INDENT
  -- A `code span` is never split: its spaces travel as NUL until placed.
  text = text:gsub("`[^`]*`", function(span)
    return (span:gsub(" ", "\0"))
  end)
  for word in text:gmatch("%S+") do
    word = word:gsub("%z", " ")
    if #line + #word + 1 > WIDTH and line ~= INDENT then
      lines[#lines + 1] = line
      line = INDENT
    end
    line = line .. (line == INDENT and "" or " ") .. word
  end
  lines[#lines + 1] = line
  return lines
end

---@param f conductor.Field
local function default_text(f)
  if f.doc_default then
    return f.doc_default
  end
  return vim.inspect(f.default, { newline = " ", indent = "" })
end

---@param f conductor.Field
---@return string[]
local function entry(f)
  local tag = ("*conductor-option-%s*"):format(f.name)
  local head = {}
  if #f.name + 2 + #tag <= WIDTH then
    head[1] = f.name .. (" "):rep(WIDTH - #f.name - #tag) .. tag
  else
    head[1] = (" "):rep(WIDTH - #tag) .. tag
    head[2] = f.name
  end
  local types = f.doc_type or f.type:gsub("|nil$", ""):gsub("|", " or ")
  head[#head + 1] = ("%sType: `%s`, default: `%s`"):format(INDENT, types, default_text(f))
  vim.list_extend(head, wrap(f.desc))
  head[#head + 1] = ""
  return head
end

---@return string[]
local function section()
  local out = { "" }
  for _, f in ipairs(config.schema) do
    vim.list_extend(out, entry(f))
  end
  return out
end

local mode = _G.arg and _G.arg[1]
if mode == "--print" then
  io.stdout:write(table.concat(section(), "\n"), "\n")
  return
end

local lines = vim.fn.readfile(doc_path)
local first, last
for i, l in ipairs(lines) do
  if not first and l:find("*conductor-options-list*", 1, true) then
    first = i
  elseif first and l:match("^====") then
    last = i
    break
  end
end
if not first or not last then
  io.stderr:write(doc_path .. ": no *conductor-options-list* tag followed by a ==== rule\n")
  os.exit(2)
end

local new = vim.list_slice(lines, 1, first)
vim.list_extend(new, section())
vim.list_extend(new, lines, last)

if vim.deep_equal(new, lines) then
  print("doc/conductor.txt: options up to date")
elseif mode == "--check" then
  io.stderr:write("doc/conductor.txt: options are stale; run nvim -l scripts/gen-doc-options.lua\n")
  os.exit(1)
else
  vim.fn.writefile(new, doc_path)
  print("doc/conductor.txt: options updated")
end
