"""A demo vendor client: what a Source, Consumer or Identity source product does to talk to the SMR."""
