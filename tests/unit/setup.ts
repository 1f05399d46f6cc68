// The unit layer runs with no Docker engine, no Redis and no build. A test that reaches for the
// engine finds no socket and fails at once, instead of passing slowly against a real one; a
// REDIS_URL left in the developer's shell cannot point a unit test at a real server.
process.env.DOCKER_HOST = 'unix:///nonexistent/docker.sock';
delete process.env.REDIS_URL;
