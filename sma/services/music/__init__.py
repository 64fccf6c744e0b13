"""Music (step 6): the tier chain and the fitting to the voiceover (service), one module per source (sources/)."""
