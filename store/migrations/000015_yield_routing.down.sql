DROP TABLE yield_channels;
