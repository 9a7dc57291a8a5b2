"""Raw data in, prepared arrays out: synthetic stand-in, real-layout readers, features, splits."""
