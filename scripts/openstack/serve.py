"""Serve one OpenStack API's WSGI application on 127.0.0.1 (scripts/openstack.sh).

The PyPI wheels ship the APIs as WSGI modules only (no neutron-server, nova-api or
placement-api launchers), and uwsgi/gunicorn cannot be used: oslo.config would parse their
command line. So: the standard library's WSGI server, one thread per connection.

usage: serve.py MODULE PORT PROG [ARGS...]
  MODULE  keystone.wsgi.api, neutron.wsgi.api, nova.wsgi.osapi_compute, placement.wsgi.api,
          glance.wsgi.api: each defines a module-level `application`
  PROG    the program name oslo.config sees; ARGS are oslo.config arguments (--config-file ...).
          The services also find their config through OS_<SERVICE>_CONFIG_DIR/_FILES.
"""
import importlib
import socketserver
import sys
import time
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

module, port, prog = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sys.argv = [prog] + sys.argv[4:]


class Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class Handler(WSGIRequestHandler):
    def address_string(self):
        return self.client_address[0]  # no reverse DNS per request

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))


started = time.time()
application = importlib.import_module(module).application
server = make_server("127.0.0.1", port, application, server_class=Server, handler_class=Handler)
sys.stderr.write("serve.py: %s on 127.0.0.1:%d, ready after %.1f s\n" % (module, port, time.time() - started))
sys.stderr.flush()
server.serve_forever()
