-- wrk script: each connection sends 16 requests at a time (HTTP/1.1
-- pipelining), the way load.py's pipe-16 scenario drives both servers.
init = function(args)
   local depth = 16
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format(nil, nil, { Host = "bench" })
   end
   req = table.concat(r)
end

request = function()
   return req
end
