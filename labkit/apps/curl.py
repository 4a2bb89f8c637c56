"""The curl images (curlimages/curl, governmentpaas/curl-ssl): a client only, so idle."""
from labkit.apps.idle import main

if __name__ == "__main__":
    main()
