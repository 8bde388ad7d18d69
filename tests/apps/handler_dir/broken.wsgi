raise SyntaxError("broken.wsgi fails on purpose")
