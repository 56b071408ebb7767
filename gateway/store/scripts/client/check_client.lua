-- ARGV 4 clientID, 5 the connection's deviceNumber ('' without device authentication).
-- Changes nothing. Returns {404}, {403} (see refused) or {200}.
return {refused(ARGV[4], ARGV[5]) or 200}
